"""When the loop saves a checkpoint: every `train.checkpoint_every_steps`
(0, the default: a tenth of the run), or once `train.checkpoint_every_minutes`
of wall time have passed since the last save, whichever comes first; and at
the last step. So an interrupted run loses at most a tenth of itself, and a
long one (ImageNet: hours per tenth) at most a few minutes.
"""
import math
import time
from typing import Callable


def every_steps(configured: int, total_steps: int) -> int:
  """The step interval: the configured one, or a tenth of the run for 0."""
  return configured or max(1, math.ceil(total_steps / 10))


class Schedule:

  def __init__(self, every: int, minutes: float, check_every: int,
               agree: Callable[[bool], bool] | None = None,
               clock: Callable[[], float] = time.monotonic):
    """The clock is read only every `check_every` steps (the logging
    interval). `agree` makes every process take the same decision (process
    0's) in a multi-process run, where clocks differ; it is a collective, so
    it runs only at those steps, which all processes share."""
    self.every, self.seconds, self.check_every = every, 60 * minutes, check_every
    self._agree = agree or bool
    self._clock = clock
    self._last = clock()

  def due(self, step: int) -> bool:
    if step % self.every == 0:
      return True
    if self.seconds <= 0 or step % self.check_every:
      return False
    return bool(self._agree(self._clock() - self._last >= self.seconds))

  def saved(self) -> None:
    self._last = self._clock()
