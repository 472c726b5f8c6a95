"""CIFAR-10 ResNet-20, the recipe of He et al. 2015, section 4.2.

SGD with momentum 0.9, learning rate 0.1 divided by 10 at 32k and 48k
iterations (optimizer.step_at_steps: in iterations, as the paper gives them,
whatever the epoch size), stopped at 64k; weight decay 1e-4; batch 128;
4-pixel zero padding, random 32x32 crops and horizontal flips (augment
'cifar', done inside the train step: the 150 MB training split lives on the
device, so seeds stack into one program like the digits studies';
--config.data.pipeline=grain does the same recipe on the host). 5,000 of
the 50,000 training images are held out for validation, as the paper's
45k/5k split that chose 64k.
Option A (parameter-free) shortcuts, as the paper's CIFAR models;
--config.model.shortcut=projection gives option B.

Result: not measured yet. It needs cifar10 prepared in a data_dir, which the
development machine lacks (no network beyond package registries); measure
with: python -m experiments.seeds --config=configs/cifar10_resnet20.py --seeds=5 --out=runs/seeds/cifar10_resnet20
and record mean +- std, machine, date and wall time here.

Run:
  python -m experiments.train --config=configs/cifar10_resnet20.py --workdir=runs/cifar10_resnet20
Variants (ablations):
  python -m experiments.train --config=configs/cifar10_resnet20.py \
      --config.model.activation=tanh --config.model.dropout=0.2 --workdir=...
Quick smoke check:
  python -m experiments.train --config=configs/cifar10_resnet20.py:runlocal --workdir=...
"""
from configs import common


def get_config(arg: str | None = None):
  config = common.base_config(dataset='cifar10')
  config.data.pipeline = 'device'
  config.data.augment = 'cifar'
  config.model = common.model('resnet20', activation='relu',
                              shortcut='zeros', norm='batch', dropout=0.0)
  config.optimizer.name = 'momentum'
  config.optimizer.momentum = 0.9
  config.optimizer.learning_rate = 0.1
  config.optimizer.weight_decay = 1e-4
  # He et al. decayed every parameter, BatchNorm's scales and biases too
  # (torchvision's recipe as well); 'kernels' would spare them.
  config.optimizer.weight_decay_mask = 'all'
  config.optimizer.schedule = 'step'
  config.optimizer.step_epochs = ()
  config.optimizer.step_at_steps = (32_000, 48_000)
  config.train.batch_size = 128
  config.train.num_epochs = 0.0
  config.train.num_steps = 64_000
  config.train.log_every_steps = 100
  config.train.checkpoint_every_steps = 2000
  # 10% of the training images held out (5,000, stratified by class):
  # evaluations while training (and anything chosen) use them; the test
  # split is read once.
  config.data.validation_fraction = 0.1
  return common.apply_arg(config, arg)
