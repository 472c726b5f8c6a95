"""A plain CNN on CIFAR-10: the model of the cifar10 ablation studies.

Three conv blocks (two 3x3 convs each, 32/64/128 features), then a 256-unit
dense layer with dropout; activation, pooling and dropout are the ablated
settings (configs/sweeps/cifar10_*.py). CIFAR-10 fits in memory, so the
split lives on the device (seed groups then train as one vmapped program),
augmented on device by random translations of up to 4 pixels.

Result: not measured yet. It needs cifar10 prepared in a data_dir, which the
development machine lacks (no network beyond package registries); measure
with: python -m experiments.seeds --config=configs/cifar10_cnn.py --seeds=5 --out=runs/seeds/cifar10_cnn
and record mean +- std, machine, date and wall time here.

Run:
  python -m experiments.train --config=configs/cifar10_cnn.py --workdir=runs/cifar10_cnn
Quick smoke check:
  python -m experiments.train --config=configs/cifar10_cnn.py:runlocal --workdir=...
"""
from configs import common


def get_config(arg: str | None = None):
  config = common.base_config(dataset='cifar10')
  config.model = common.model(
      'cnn', features=(32, 64, 128), convs_per_block=2, kernel_size=3,
      activation='relu', pooling='max', dense=(256,), dropout=0.5,
      dropout_placement='dense', norm='none')
  config.data.random_shift = 4
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 1e-3
  config.optimizer.schedule = 'cosine'
  config.train.batch_size = 128
  config.train.num_epochs = 30
  # 10% of the training images held out (5,000, stratified by class):
  # evaluations while training (and anything chosen) use them; the test
  # split is read once.
  config.data.validation_fraction = 0.1
  return common.apply_arg(config, arg)
