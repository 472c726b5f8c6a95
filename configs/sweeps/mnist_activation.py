"""Activation ablation on mnist: sigmoid vs tanh vs relu x 5 seeds.
Shipped as a config: prepare mnist first (lib/data/catalog.py explains how).

  python -m experiments.sweep --sweep=configs/sweeps/mnist_activation.py \
      --study_dir=studies/mnist_activation
  python -m experiments.report --study_dir=studies/mnist_activation
"""
from configs.sweeps import common


def get_sweep():
  return common.ablation('mnist', {'model.activation': common.ACTIVATIONS})
