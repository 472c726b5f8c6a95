"""The progress line's examples/s counts training time only: an evaluation
inside a logging interval is taken out of it (real clocks, real sleeps)."""
import re
import time

from lib import progress

BATCH = 10


def _printed_rate(meter: progress.Meter, step: int) -> float:
  line = meter.line(step, {'loss': 1.0, 'accuracy': 0.5, 'learning_rate': 0.1})
  return float(re.search(r'([\d,]+) ex/s', line).group(1).replace(',', '')) / BATCH


def test_evaluation_inside_an_interval_is_not_counted():
  meter = progress.Meter(0, 100, BATCH, steps_per_epoch=10)
  time.sleep(0.1)            # steps 1-5
  with meter.excluding():
    time.sleep(0.4)          # an evaluation at step 5
  meter.eval_line(5, {'loss': 1.0, 'accuracy': 0.5}, 'validation')
  time.sleep(0.1)            # steps 6-10
  # 10 steps in 0.2 s of training: 50 steps/s (sleeps only overshoot, so a
  # busy machine can only lower it). Counting the evaluation gives 17; the
  # old meter, which restarted its clock at the evaluation, printed 100.
  rate = _printed_rate(meter, 10)
  assert 50 * 0.7 < rate <= 50.5, rate


def test_steps_still_running_when_evaluation_starts_count_as_training():
  meter = progress.Meter(0, 100, BATCH, steps_per_epoch=10)
  time.sleep(0.1)
  # `wait` stands for the dispatched steps that finish before the evaluation.
  with meter.excluding(wait=lambda: time.sleep(0.1)):
    time.sleep(0.3)
  assert 50 * 0.7 < _printed_rate(meter, 10) <= 50.5


def test_each_interval_starts_afresh():
  meter = progress.Meter(0, 100, BATCH, steps_per_epoch=10)
  with meter.excluding():
    time.sleep(0.2)
  time.sleep(0.1)
  meter.line(10, {'loss': 1.0, 'accuracy': 0.5, 'learning_rate': 0.1})
  time.sleep(0.1)            # no evaluation in this interval
  assert 100 * 0.7 < _printed_rate(meter, 20) <= 101


def test_the_compiling_first_step_is_not_counted():
  """A fresh run's first step compiles (seconds to minutes): counted, the
  first line's ex/s and ETA were those of compilation (issue 28)."""
  meter = progress.Meter(0, 100, BATCH, steps_per_epoch=10)
  # The first step: compiled, then run; `wait` stands for block_until_ready.
  meter.first_step_done(1, wait=lambda: time.sleep(0.5))
  time.sleep(0.09)           # steps 2-10
  assert 100 * 0.7 < _printed_rate(meter, 10) <= 101


def test_a_line_at_the_first_step_has_no_rate_yet():
  meter = progress.Meter(0, 100, BATCH, steps_per_epoch=10)
  meter.first_step_done(1, wait=lambda: None)
  line = meter.line(1, {'loss': 1.0, 'accuracy': 0.5, 'learning_rate': 0.1})
  assert line.endswith('| compiled; ex/s and ETA from the next line'), line
