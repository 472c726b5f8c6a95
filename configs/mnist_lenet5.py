"""LeNet-5 (LeCun et al. 1998) on MNIST: tanh, mean pooling, no dropout.

MNIST's 28x28 digits are zero-padded to 32x32 inside the model, as in the
paper. MNIST fits in memory, so the whole split lives on the device.

Result: not measured yet. It needs mnist prepared in a data_dir, which the
development machine lacks (no network beyond package registries); measure
with: python -m experiments.seeds --config=configs/mnist_lenet5.py --seeds=5 --out=runs/seeds/mnist_lenet5
and record mean +- std, machine, date and wall time here.

Run:
  python -m experiments.train --config=configs/mnist_lenet5.py --workdir=runs/mnist_lenet5
Variants (ablations):
  python -m experiments.train --config=configs/mnist_lenet5.py \
      --config.model.activation=relu --config.model.pooling=max \
      --config.model.dropout=0.5 --workdir=...
Quick smoke check:
  python -m experiments.train --config=configs/mnist_lenet5.py:runlocal --workdir=...
"""
from configs import common


def get_config(arg: str | None = None):
  config = common.base_config(dataset='mnist')
  config.model = common.model('lenet5', activation='tanh', pooling='mean',
                              dropout=0.0, norm='none')
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 1e-3
  config.optimizer.schedule = 'cosine'
  config.train.batch_size = 128
  config.train.num_epochs = 20
  # 10% of the training images held out (6,000, stratified by class):
  # evaluations while training (and anything chosen) use them; the test
  # split is read once.
  config.data.validation_fraction = 0.1
  return common.apply_arg(config, arg)
