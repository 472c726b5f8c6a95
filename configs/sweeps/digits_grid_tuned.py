"""The digits ablation grid (activation x pooling x dropout, configs/sweeps/
digits_grid.py's 18 arms) with the learning rate tuned per arm: each arm at
5 learning rates x 5 seeds (450 runs in 18 tasks, one compiled program per
arm), each rate chosen on 10% of the training split held out, then every
factor compared at the shared rate and at each arm's own best.

  python -m experiments.sweep --sweep=configs/sweeps/digits_grid_tuned.py \
      --study_dir=studies/digits_grid_tuned
  python -m experiments.report --study_dir=studies/digits_grid_tuned
"""
from configs.sweeps import common


def get_sweep():
  return common.tuned_grid('digits')
