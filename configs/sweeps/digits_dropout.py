"""Dropout ablation on digits: rate 0, 0.25, 0.5 x 5 seeds, in an overfitting
regime (512-unit dense layer, no augmentation, 100 epochs), where there is a
train/test gap for dropout to shrink (Srivastava et al. 2014).

  python -m experiments.sweep --sweep=configs/sweeps/digits_dropout.py \
      --study_dir=studies/digits_dropout
  python -m experiments.report --study_dir=studies/digits_dropout
"""
from configs.sweeps import common


def get_sweep():
  return common.ablation('digits', {'model.dropout': common.DROPOUTS},
                         common.OVERFITTING)
