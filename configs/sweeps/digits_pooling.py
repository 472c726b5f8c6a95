"""Pooling ablation on digits: max vs mean pooling x 5 seeds.

  python -m experiments.sweep --sweep=configs/sweeps/digits_pooling.py \
      --study_dir=studies/digits_pooling
  python -m experiments.report --study_dir=studies/digits_pooling
"""
from configs.sweeps import common


def get_sweep():
  return common.ablation('digits', {'model.pooling': common.POOLINGS})
