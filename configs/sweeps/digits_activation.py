"""Activation ablation on digits: sigmoid vs tanh vs relu x 5 seeds, in the
regime of Krizhevsky et al. 2012 (no dropout or augmentation, SGD with
momentum): compare the steps each needs to reach a training accuracy.

  python -m experiments.sweep --sweep=configs/sweeps/digits_activation.py \
      --study_dir=studies/digits_activation
  python -m experiments.report --study_dir=studies/digits_activation \
      --target_accuracy=0.95
"""
from configs.sweeps import common


def get_sweep():
  return common.ablation('digits', {'model.activation': common.ACTIVATIONS},
                         common.UNREGULARIZED_SGD)
