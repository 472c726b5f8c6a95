"""Which regularizer helps LeNet-5 on the embedded mnist_5k: none, dropout
0.5, weight decay, label smoothing or mixup, each arm at the learning rate
it chooses on validation data (10% of the training split held out), 5 rates
x 5 seeds per arm, compared with none (paired over seeds, Holm-corrected)
at the shared rate and at each arm's own choice (configs/sweeps/common.py
tuned).

The arms change one thing each from LeNet-5 as configured
(configs/mnist5k_lenet5.py: tanh, mean pooling, Adam, cosine, 15 epochs
here, no augmentation), at the strengths their papers and timm use:
  dropout          model.dropout 0.5 before the dense layers (Srivastava et al. 2014)
  weight decay     optimizer.weight_decay 5e-4, kernels only (L2 added to the
                   gradient, as the ResNet paper's; biases and norms not decayed)
  label smoothing  train.label_smoothing 0.1 (Szegedy et al. 2016)
  mixup            data.mixup_alpha 0.2 (Zhang et al. 2018; timm's ImageNet value)

  python -m experiments.sweep --sweep=configs/sweeps/mnist5k_regularization_tuned.py \\
      --study_dir=studies/mnist5k_regularization_tuned
  python -m experiments.report --study_dir=studies/mnist5k_regularization_tuned

Result: not yet run.
"""
from configs.sweeps import common
from lib import sweeps

# none, dropout, weight decay, label smoothing, mixup: one field moves per arm.
ARMS = sweeps.zip({'model.dropout': [0.0, 0.5, 0.0, 0.0, 0.0]},
                  {'optimizer.weight_decay': [0.0, 0.0, 5e-4, 0.0, 0.0]},
                  {'train.label_smoothing': [0.0, 0.0, 0.0, 0.1, 0.0]},
                  {'data.mixup_alpha': [0.0, 0.0, 0.0, 0.0, 0.2]})


def get_sweep():
  return common.tuned('mnist_5k', ARMS, {'optimizer.weight_decay_mask': 'kernels'})
