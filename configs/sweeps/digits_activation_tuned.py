"""configs/sweeps/digits_activation.py (Krizhevsky et al. 2012's regime: SGD
with momentum, no dropout or augmentation) with the learning rate tuned per
activation on validation data: 3 activations x 5 rates x 5 seeds.

  python -m experiments.sweep --sweep=configs/sweeps/digits_activation_tuned.py \
      --study_dir=studies/digits_activation_tuned
  python -m experiments.report --study_dir=studies/digits_activation_tuned \
      --target_accuracy=0.95
"""
from configs.sweeps import common


def get_sweep():
  return common.tuned('digits', {'model.activation': common.ACTIVATIONS},
                      common.UNREGULARIZED_SGD)
