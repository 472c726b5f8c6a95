"""When the loop saves a checkpoint: every `train.checkpoint_every_steps`
(0, the default: a tenth of the run), or once `train.checkpoint_every_minutes`
of wall time have passed since the last save, whichever comes first; and at
the last step. So an interrupted run loses at most a tenth of itself, and a
long one (ImageNet: hours per tenth) at most a few minutes. SIGTERM and
Ctrl-C save at the step they arrive whatever the schedule (lib/preemption.py).

The default tenth skips a save that would come less than MIN_SECONDS after
the last one: a save costs about a second on 2 cores (Orbax's writes and
their commit), so ten of them made the 5-seed digits study (20 s of
training) 12 s slower, to keep at most 2 s of work from a kill -9. A run
then loses at most a tenth of itself or MIN_SECONDS, whichever is longer.
An interval set in the config is kept exactly.
"""
import math
import time
from typing import Callable


MIN_SECONDS = 30.0


def every_steps(configured: int, total_steps: int) -> int:
  """The step interval: the configured one, or a tenth of the run for 0."""
  return configured or max(1, math.ceil(total_steps / 10))


def min_seconds(configured: int) -> float:
  """Seconds a step-interval save waits for since the last one: MIN_SECONDS
  for the default tenth, none for an interval the config sets."""
  return 0.0 if configured else MIN_SECONDS


class Schedule:

  def __init__(self, every: int, minutes: float, check_every: int,
               agree: Callable[[bool], bool] | None = None,
               clock: Callable[[], float] = time.monotonic,
               min_seconds: float = 0.0):
    """The clock is read only every `check_every` steps (the logging
    interval) and at the step interval when `min_seconds` is set. `agree`
    makes every process take the same decision (process 0's) in a
    multi-process run, where clocks differ; it is a collective, so it runs
    only at those steps, which all processes share."""
    self.every, self.seconds, self.check_every = every, 60 * minutes, check_every
    self.min_seconds = min_seconds
    self._agree = agree or bool
    self._clock = clock
    self._last = clock()

  def due(self, step: int) -> bool:
    if step % self.every == 0:
      return self.min_seconds <= 0 or bool(
          self._agree(self._clock() - self._last >= self.min_seconds))
    if self.seconds <= 0 or step % self.check_every:
      return False
    return bool(self._agree(self._clock() - self._last >= self.seconds))

  def saved(self) -> None:
    self._last = self._clock()
