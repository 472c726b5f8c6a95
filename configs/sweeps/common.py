"""What the shipped studies share: the ablation axes and, per dataset, the
base config and the settings fixed for every run of a study.

digits: configs/cnn.py:digits (two convs per block, 32/64 features) takes
~10 s of compute per run on 2 CPU cores; the 90-run grid must finish in 10
minutes, so its studies use one conv per block with 16/32 features and 30
epochs (~2-4 s per run). Train metrics are logged every 11 steps of 128 (an
epoch of all 1,437 training images; 10 steps with 10% held out), the
resolution of "steps to reach a target training accuracy".
mnist_5k (embedded, 4,000 training images, 3,600 after the hold-out) runs
here: LeNet-5 as in configs/lenet5.py:mnist_5k, shortened to 15 epochs (~3-5 s
per run) so that the 90-run grid takes minutes; metrics every 31 steps (an
epoch of all 4,000; 28 steps with 10% held out).
mnist and cifar10 are shipped as configs only (their data must be prepared,
see lib/data/catalog.py); they keep their configs' models and schedules.

The tuned studies (`ablation.py:...,tuned`, mnist5k_regularization_tuned.py)
tune the learning rate per arm (lib/sweeps/spec.py
`tune`): each arm is trained at every rate of LEARNING_RATES with every
seed, chooses its rate on the validation data (10% of the training split,
held out), and is compared with the others both at the base config's rate
(the shared setting, one of the five) and at its own choice.
"""
import dataclasses

from lib import sweeps

ACTIVATIONS = ['sigmoid', 'tanh', 'relu']
POOLINGS = ['max', 'mean']
DROPOUTS = [0.0, 0.25, 0.5]
SEEDS = 5

BASES = {
    'digits': ('configs/cnn.py:digits', {
        'model.features': (16, 32),
        'model.convs_per_block': 1,
        'model.dense': (128,),
        'train.num_epochs': 30.0,
        'train.log_every_steps': 11,
    }),
    'mnist_5k': ('configs/lenet5.py:mnist_5k', {
        'train.num_epochs': 15.0,
        'train.log_every_steps': 31,
    }),
    # LeNet-5 as in the paper (tanh, mean pooling); 421 steps per epoch
    # (54,000 training images after the hold-out).
    'mnist': ('configs/lenet5.py:mnist', {'train.log_every_steps': 117}),
    # A plain CNN (CIFAR ResNets have no pooling to ablate); 351 steps an
    # epoch (45,000 training images after the hold-out).
    'cifar10': ('configs/cnn.py:cifar10', {'train.log_every_steps': 130}),
}


# The single-factor digits studies each run in the regime of the claim they
# test (the grid keeps the base settings for every factor):
# Krizhevsky et al. 2012 compared activations by the training error of an
# unregularized CNN under SGD with momentum (one learning rate for all).
UNREGULARIZED_SGD = {
    'model.dropout': 0.0, 'data.random_shift': 0, 'optimizer.name': 'momentum',
    'optimizer.momentum': 0.9, 'optimizer.learning_rate': 0.05,
    'optimizer.schedule': 'constant'}
# Srivastava et al. 2014: dropout pays where a big net overfits; in the base
# regime (augmented, 30 epochs) training and test accuracy already agree, so
# here: a 512-unit dense layer, no augmentation, 100 epochs (100% train acc).
OVERFITTING = {'data.random_shift': 0, 'model.dense': (512,),
               'train.num_epochs': 100.0}


# Five log-spaced rates from each base config's (shared) rate upwards. The
# first digits grid, 1e-3 to 2e-2, chose its largest rate in 11 of its 18
# arms and its smallest only where every rate stayed at chance
# (2026-12-02), so the grids start at the shared rate and reach 25x it; a
# diverging rate simply loses (lib/report/tuning.py).
LEARNING_RATES = {
    'adam_2e-3': [2e-3, 5e-3, 1e-2, 2e-2, 5e-2],      # digits (configs/cnn.py:digits)
    'adam_1e-3': [1e-3, 2e-3, 5e-3, 1e-2, 2e-2],      # mnist_5k, mnist, cifar10
    'momentum_0.05': [0.05, 0.1, 0.2, 0.5, 1.0],      # UNREGULARIZED_SGD
}
TUNED_RATES = {'digits': 'adam_2e-3', 'mnist_5k': 'adam_1e-3', 'mnist': 'adam_1e-3',
               'cifar10': 'adam_1e-3'}
VALIDATION = {'data.validation_fraction': 0.1}


def ablation(dataset: str, axes: dict, regime: dict | None = None) -> sweeps.Sweep:
  """The product of `axes` (field -> values) x SEEDS seeds on `dataset`,
  with `regime` overriding the dataset's fixed settings."""
  config, fixed = BASES[dataset]
  return sweeps.Sweep(config=config, fixed={**fixed, **(regime or {})},
                      axes=sweeps.product(axes, sweeps.seeds(SEEDS)))


def tuned(dataset: str, axes: dict, regime: dict | None = None,
          rates: str | None = None) -> sweeps.Sweep:
  """`ablation`, with the learning rate tuned per arm on validation data."""
  sweep = ablation(dataset, axes, {**VALIDATION, **(regime or {})})
  rates = rates or ('momentum_0.05' if regime is UNREGULARIZED_SGD
                    else TUNED_RATES[dataset])
  return dataclasses.replace(
      sweep, tune=sweeps.axis('optimizer.learning_rate', LEARNING_RATES[rates]))
