"""CIFAR-10 ResNet-56: configs/cifar10_resnet20.py's recipe (He et al. 2015,
section 4.2) with n=9 blocks per stage instead of 3.

Result: not measured yet. It needs cifar10 prepared in a data_dir, which the
development machine lacks (no network beyond package registries); measure
with: python -m experiments.seeds --config=configs/cifar10_resnet56.py --seeds=5 --out=runs/seeds/cifar10_resnet56
and record mean +- std, machine, date and wall time here.

Run:
  python -m experiments.train --config=configs/cifar10_resnet56.py --workdir=runs/cifar10_resnet56
Variants (ablations):
  python -m experiments.train --config=configs/cifar10_resnet56.py \
      --config.model.activation=tanh --config.model.dropout=0.2 --workdir=...
Quick smoke check:
  python -m experiments.train --config=configs/cifar10_resnet56.py:runlocal --workdir=...
"""
from configs import cifar10_resnet20


def get_config(arg: str | None = None):
  config = cifar10_resnet20.get_config(arg)
  config.model.name = 'resnet56'
  return config
