"""The lecture's ablations on each dataset, one file:
`--sweep=configs/sweeps/ablation.py:DATASET,FACTOR[,tuned]`.

DATASET: digits, mnist_5k (both embedded: they run here), mnist, cifar10
(prepare them first: `./launch.sh prepare mnist`; lib/data/catalog.py).
The models and the settings fixed per dataset are in configs/sweeps/common.py
BASES: the digits CNN of configs/cnn.py:digits shrunk to one conv per block,
LeNet-5 of configs/lenet5.py for mnist_5k and mnist, configs/cnn.py:cifar10.

FACTOR, each arm x 5 seeds:
- activation: sigmoid vs tanh vs relu. On digits in the regime of Krizhevsky
  et al. 2012 (no dropout or augmentation, SGD with momentum): compare the
  steps each needs to reach a training accuracy
  (`experiments.report --target_accuracy=0.95`).
- dropout: rate 0, 0.25, 0.5. On digits in an overfitting regime (512-unit
  dense layer, no augmentation, 100 epochs), where there is a train/test gap
  for dropout to shrink (Srivastava et al. 2014).
- pooling: max vs mean pooling.
- grid: activation x pooling x dropout, 18 arms (90 runs in 18 seed groups).

`tuned`: the learning rate tuned per arm on validation data (10% of the
training split held out): each arm at 5 learning rates x 5 seeds, compared at
the shared rate and at its own choice (configs/sweeps/common.py tuned); the
grid then has 450 runs in 18 tasks, one compiled program per arm.

  python -m experiments.sweep --sweep=configs/sweeps/ablation.py:digits,grid \
      --study_dir=studies/digits_grid
  python -m experiments.report --study_dir=studies/digits_grid
  python -m experiments.sweep --sweep=configs/sweeps/ablation.py:mnist_5k,activation,tuned \
      --study_dir=studies/mnist5k_activation_tuned
On a cluster, one array element per seed group:
  ./launch.sh slurm --sweep=configs/sweeps/ablation.py:mnist,grid \
      --study_dir=studies/mnist_grid --time=01:00:00 --cpus=4
"""
from configs.sweeps import common

DATASETS = tuple(common.BASES)
FACTORS = {'activation': {'model.activation': common.ACTIVATIONS},
           'dropout': {'model.dropout': common.DROPOUTS},
           'pooling': {'model.pooling': common.POOLINGS},
           'grid': {'model.activation': common.ACTIVATIONS,
                    'model.pooling': common.POOLINGS,
                    'model.dropout': common.DROPOUTS}}
# The single-factor digits studies each run in the regime of the claim they
# test (configs/sweeps/common.py); the grid keeps the base settings.
REGIMES = {('digits', 'activation'): common.UNREGULARIZED_SGD,
           ('digits', 'dropout'): common.OVERFITTING}


def get_sweep(arg: str | None = None):
  parts = (arg or '').split(',')
  if len(parts) not in (2, 3) or parts[0] not in DATASETS or (
      parts[1] not in FACTORS) or parts[2:] not in ([], ['tuned']):
    raise ValueError(
        f"give DATASET,FACTOR[,tuned] after ':' (got {arg or 'nothing'!r}): "
        f"DATASET one of {', '.join(DATASETS)}; FACTOR one of "
        f"{', '.join(FACTORS)}; e.g. :digits,grid or :mnist_5k,activation,tuned; "
        'a quick version takes --seeds=N and --set=FIELD=VALUE')
  dataset, factor = parts[:2]
  study = common.tuned if parts[2:] else common.ablation
  return study(dataset, FACTORS[factor], REGIMES.get((dataset, factor)))
