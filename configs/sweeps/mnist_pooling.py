"""Pooling ablation on mnist: max vs mean pooling x 5 seeds.
Shipped as a config: prepare mnist first (lib/data/catalog.py explains how).

  python -m experiments.sweep --sweep=configs/sweeps/mnist_pooling.py \
      --study_dir=studies/mnist_pooling
  python -m experiments.report --study_dir=studies/mnist_pooling
"""
from configs.sweeps import common


def get_sweep():
  return common.ablation('mnist', {'model.pooling': common.POOLINGS})
