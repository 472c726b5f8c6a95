"""The full ablation grid on mnist: activation {sigmoid, tanh, relu} x pooling
{max, mean} x dropout {0, 0.25, 0.5} x 5 seeds = 90 runs in 18 seed groups.
Shipped as a config: prepare mnist first (lib/data/catalog.py explains how).

  python -m experiments.sweep --sweep=configs/sweeps/mnist_grid.py \
      --study_dir=studies/mnist_grid
  python -m experiments.report --study_dir=studies/mnist_grid
On a cluster, one array element per seed group:
  ./launch.sh slurm --sweep=configs/sweeps/mnist_grid.py \
      --study_dir=studies/mnist_grid --time=01:00:00 --cpus=4
"""
from configs.sweeps import common


def get_sweep():
  return common.grid('mnist')
