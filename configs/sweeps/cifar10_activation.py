"""Activation ablation on cifar10: sigmoid vs tanh vs relu x 5 seeds.
Shipped as a config: prepare cifar10 first (lib/data/catalog.py explains how).

  python -m experiments.sweep --sweep=configs/sweeps/cifar10_activation.py \
      --study_dir=studies/cifar10_activation
  python -m experiments.report --study_dir=studies/cifar10_activation
"""
from configs.sweeps import common


def get_sweep():
  return common.ablation('cifar10', {'model.activation': common.ACTIVATIONS})
