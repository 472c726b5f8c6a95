"""He et al. 2015's plain-vs-residual experiment (Fig. 6, CIFAR-10) on the
embedded mnist_5k: CIFAR ResNets of depth 20 and 56 with option-A shortcuts
against their plain twins (model.shortcut='none': the same layers and
parameters, no shortcut), 3 seeds each: 12 runs in 4 tasks.

The paper's claim is about training error: the deeper plain net trains
worse than the shallower one (the degradation problem), while the deeper
residual net trains better. So the runs have no augmentation (the logged
training loss is the loss on the training images) and the report's curves
to read are the training losses, beside test accuracy with intervals.
The recipe is the paper's (configs/digits_resnet20.py: SGD with momentum
0.9, learning rate 0.1, weight decay 1e-4, batch 128) with a cosine
schedule, 10% of the 4,000 training images held out (28 steps an epoch).

  python -m experiments.sweep --sweep=configs/sweeps/mnist5k_plain_vs_residual.py \\
      --study_dir=studies/mnist5k_plain_vs_residual
  python -m experiments.report --study_dir=studies/mnist5k_plain_vs_residual

Result: the study as declared has not been run yet. A smaller declared
variant was (see below).
"""
from lib import sweeps

DEPTHS = ['resnet20', 'resnet56']
SHORTCUTS = ['none', 'zeros']  # Plain, then residual (option A).


def get_sweep():
  return sweeps.Sweep(
      config='configs/digits_resnet20.py',
      fixed={'data.name': 'mnist_5k', 'data.random_shift': 0,
             'train.num_epochs': 20.0, 'train.log_every_steps': 14},
      axes=sweeps.product({'model.name': DEPTHS, 'model.shortcut': SHORTCUTS},
                          sweeps.seeds(3)))
