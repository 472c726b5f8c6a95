"""configs/sweeps/mnist5k_activation.py (LeNet-5, sigmoid / tanh / relu) with the learning rate tuned per arm on validation data (10% of the
training split held out): each arm at 5 learning rates x 5 seeds, compared at
the shared rate and at its own choice (configs/sweeps/common.py tuned).

  python -m experiments.sweep --sweep=configs/sweeps/mnist5k_activation_tuned.py \
      --study_dir=studies/mnist5k_activation_tuned
  python -m experiments.report --study_dir=studies/mnist5k_activation_tuned
"""
from configs.sweeps import common


def get_sweep():
  return common.tuned('mnist_5k', {'model.activation': common.ACTIVATIONS})
