"""ImageNet configs scale the learning rate with the global batch (the
linear scaling rule their docstrings state) unless it is set explicitly."""
import pytest
from absl import flags
from ml_collections import config_flags

from lib import optim
from lib.sweeps import axes, plan
from lib.sweeps.spec import Sweep

RESNET50 = 'configs/resnet.py:imagenet2012'
ALEXNET = 'configs/alexnet.py:imagenet2012'


def load(*argv: str):
  """The config as the launcher gives it: locked, overrides applied, then
  resolved as the trainer resolves it."""
  values = flags.FlagValues()
  ours = ['train', *argv]
  config_flags.DEFINE_config_file('config', None, 'Config.', flag_values=values,
                                  lock_config=True, sys_argv=ours)
  values(ours)
  return values.config.copy_and_resolve_references()


def first_rate(config) -> float:
  """The rate the optimizer is built with (no warm-up in these configs)."""
  return float(optim.schedule(config.optimizer, total_steps=100, steps_per_epoch=10)(0))


@pytest.mark.parametrize('path, batch, rate', [
    (RESNET50, 256, 0.1), (RESNET50, 64, 0.025), (RESNET50, 1024, 0.4),
    (ALEXNET, 128, 0.01), (ALEXNET, 32, 0.0025)])
def test_rate_follows_the_batch(path, batch, rate):
  config = load(f'--config={path}', f'--config.train.batch_size={batch}')
  assert config.optimizer.learning_rate == pytest.approx(rate)
  assert first_rate(config) == pytest.approx(rate)


@pytest.mark.parametrize('order', ['lr first', 'batch first'])
def test_an_explicit_rate_wins(order):
  flags_ = ['--config.optimizer.learning_rate=0.3', '--config.train.batch_size=64']
  if order == 'batch first':
    flags_.reverse()
  config = load(f'--config={RESNET50}', *flags_)
  assert config.train.batch_size == 64
  assert first_rate(config) == pytest.approx(0.3)


def test_the_base_rate_can_be_changed_and_still_scales():
  config = load(f'--config={RESNET50}', '--config.optimizer.base_learning_rate=0.2',
                '--config.train.batch_size=64')
  assert first_rate(config) == pytest.approx(0.05)


def test_a_swept_batch_size_scales_each_runs_rate():
  sweep = Sweep(config=RESNET50, axes=axes.product({'train.batch_size': [64, 512]}))
  rates = {r.config.train.batch_size: r.config.optimizer.learning_rate
           for r in plan.expand(sweep, __file__)}
  assert rates == pytest.approx({64: 0.025, 512: 0.2})
  fixed = Sweep(config=RESNET50, fixed={'optimizer.learning_rate': 0.05},
                axes=axes.product({'train.batch_size': [64, 512]}))
  assert {r.config.optimizer.learning_rate
          for r in plan.expand(fixed, __file__)} == {0.05}


@pytest.mark.parametrize('steps_per_epoch', [
    351,   # 45,000 training images (the config's 10% held out), batch 128.
    390])  # All 50,000.
def test_cifar_resnets_decay_at_the_papers_iterations_whatever_the_epoch_size(
    steps_per_epoch):
  # He et al. give 32k and 48k iterations. As epochs (82 and 123) they were
  # steps 31,980 and 47,970 at 390 steps an epoch, and 28,782 and 43,173 once
  # 10% was held out.
  config = load('--config=configs/resnet.py:cifar10,resnet56')
  rate = optim.schedule(config.optimizer, total_steps=64_000,
                        steps_per_epoch=steps_per_epoch)
  for step, expected in ((31_999, 0.1), (32_000, 0.01), (47_999, 0.01), (48_000, 0.001)):
    assert float(rate(step)) == pytest.approx(expected), step


def test_step_epochs_still_count_epochs():
  config = load(f'--config={RESNET50}')  # Decays at epochs 30 and 60.
  rate = optim.schedule(config.optimizer, total_steps=9_000, steps_per_epoch=100)
  assert float(rate(2_999)) == pytest.approx(0.1) and float(rate(3_000)) == pytest.approx(0.01)
