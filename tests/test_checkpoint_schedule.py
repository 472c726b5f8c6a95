"""Checkpoints come at least every tenth of a run, or every few minutes,
whichever is first: an interrupted run loses little (issue 28)."""
import glob
import importlib
import os
import re

import pytest

from lib import checkpoint_schedule
from tests.conftest import ROOT


class Clock:
  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def test_a_tenth_of_the_run_by_default():
  assert checkpoint_schedule.every_steps(0, 400) == 40
  assert checkpoint_schedule.every_steps(0, 401) == 41
  assert checkpoint_schedule.every_steps(0, 5) == 1
  assert checkpoint_schedule.every_steps(7, 400) == 7  # Set: kept as set.


def test_minutes_since_the_last_save_trigger_one_at_a_logging_step():
  clock = Clock()
  schedule = checkpoint_schedule.Schedule(every=1000, minutes=5, check_every=10,
                                          clock=clock)
  assert [s for s in range(1, 31) if schedule.due(s)] == []
  clock.now = 5 * 60 - 1
  assert not schedule.due(40)
  clock.now = 5 * 60
  assert not schedule.due(41)  # The clock is read at logging steps only.
  assert schedule.due(50)
  schedule.saved()
  clock.now += 60
  assert not schedule.due(60)
  assert schedule.due(1000)  # The step interval holds whatever the clock.


def test_the_default_tenth_waits_min_seconds_since_the_last_save():
  clock = Clock()
  schedule = checkpoint_schedule.Schedule(
      every=4, minutes=5, check_every=1, clock=clock,
      min_seconds=checkpoint_schedule.min_seconds(0))
  assert checkpoint_schedule.min_seconds(0) == checkpoint_schedule.MIN_SECONDS == 30
  assert checkpoint_schedule.min_seconds(4) == 0  # A set interval is kept.
  clock.now = 29
  assert not schedule.due(4)
  clock.now = 30
  assert schedule.due(8)
  schedule.saved()
  clock.now = 45
  assert not schedule.due(12)
  clock.now = 60
  assert not schedule.due(13)  # Not at the interval, and under 5 minutes.
  assert schedule.due(16)


def test_zero_minutes_is_by_steps_only():
  clock = Clock()
  schedule = checkpoint_schedule.Schedule(every=4, minutes=0, check_every=1,
                                          clock=clock)
  clock.now = 1e9
  assert [s for s in range(1, 13) if schedule.due(s)] == [4, 8, 12]


def test_processes_take_process_0s_decision():
  clock = Clock()
  process_0_says = []
  schedule = checkpoint_schedule.Schedule(
      every=1000, minutes=1, check_every=10, clock=clock,
      agree=lambda mine: process_0_says[-1])
  clock.now = 3600  # This process is late...
  process_0_says.append(False)  # ...but process 0 is not: no save.
  assert not schedule.due(10)
  process_0_says.append(True)
  assert schedule.due(20)


# Training examples per epoch of the datasets whose configs set the
# interval themselves (TFDS's split sizes).
TRAIN_EXAMPLES = {'mnist': 60_000, 'cifar10': 50_000, 'imagenet2012': 1_281_167}


def _shipped_configs():
  """'model.py:dataset[,option]' for every config a docstring runs."""
  refs = set()
  for path in glob.glob(os.path.join(ROOT, 'configs', '*.py')):
    with open(path) as f:
      refs |= set(re.findall(r'--config=configs/(\w+\.py:[a-z0-9_,]+)', f.read()))
  return sorted({r.removesuffix(',runlocal') for r in refs})


@pytest.mark.parametrize('ref', _shipped_configs())
def test_every_shipped_config_checkpoints_every_tenth_or_five_minutes(ref):
  name, arg = ref.split('.py:')
  config = importlib.import_module(f'configs.{name}').get_config(arg)
  train = config.train
  assert 0 < train.checkpoint_every_minutes <= 5
  if train.checkpoint_every_steps == 0:
    return  # A tenth of the run, whatever its length (the trainer's rule).
  if train.num_steps:
    total = train.num_steps
  else:
    examples = (TRAIN_EXAMPLES[config.data.name]
                * (1 - config.data.validation_fraction))
    total = train.num_epochs * examples // train.batch_size
  assert train.checkpoint_every_steps <= total / 10, (name, total)
