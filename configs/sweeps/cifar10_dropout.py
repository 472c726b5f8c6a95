"""Dropout ablation on cifar10: rate 0, 0.25, 0.5 x 5 seeds.
Shipped as a config: prepare cifar10 first (lib/data/catalog.py explains how).

  python -m experiments.sweep --sweep=configs/sweeps/cifar10_dropout.py \
      --study_dir=studies/cifar10_dropout
  python -m experiments.report --study_dir=studies/cifar10_dropout
"""
from configs.sweeps import common


def get_sweep():
  return common.ablation('cifar10', {'model.dropout': common.DROPOUTS})
