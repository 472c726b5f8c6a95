"""Pooling ablation on cifar10: max vs mean pooling x 5 seeds.
Shipped as a config: prepare cifar10 first (lib/data/catalog.py explains how).

  python -m experiments.sweep --sweep=configs/sweeps/cifar10_pooling.py \
      --study_dir=studies/cifar10_pooling
  python -m experiments.report --study_dir=studies/cifar10_pooling
"""
from configs.sweeps import common


def get_sweep():
  return common.ablation('cifar10', {'model.pooling': common.POOLINGS})
