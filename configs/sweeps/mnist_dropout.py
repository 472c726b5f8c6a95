"""Dropout ablation on mnist: rate 0, 0.25, 0.5 x 5 seeds.
Shipped as a config: prepare mnist first (lib/data/catalog.py explains how).

  python -m experiments.sweep --sweep=configs/sweeps/mnist_dropout.py \
      --study_dir=studies/mnist_dropout
  python -m experiments.report --study_dir=studies/mnist_dropout
"""
from configs.sweeps import common


def get_sweep():
  return common.ablation('mnist', {'model.dropout': common.DROPOUTS})
