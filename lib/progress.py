"""Human-readable progress lines: step, loss, accuracy, examples/s, ETA."""
import contextlib
import datetime
import sys
import threading
import time
from typing import Callable

_thread = threading.local()  # .label: the run this thread trains, if several do.
_one_line_at_a_time = threading.Lock()


def say(message: str) -> None:
  with _one_line_at_a_time:  # print() writes the newline apart: lines would mix.
    print(getattr(_thread, 'label', '') + message, file=sys.stdout, flush=True)


@contextlib.contextmanager
def labelled(label: str):
  """Lines said by this thread start with `label` (seeds trained side by
  side in threads, lib/multi_seed.py: whose line it is)."""
  _thread.label = label
  try:
    yield
  finally:
    _thread.label = ''


class Meter:
  """Training throughput over the last logging interval and the time left at
  that pace. Time spent inside `excluding()` (evaluations) is not training:
  it is taken out of the interval it falls in. Nor is compilation: the
  clock starts when the session's first step has run (`first_step_done`)."""

  def __init__(self, start_step: int, total_steps: int, batch_size: int,
               steps_per_epoch: int):
    self.total, self.batch_size = total_steps, batch_size
    self.steps_per_epoch = steps_per_epoch
    self.last_step, self.last_time = start_step, time.monotonic()
    self.excluded = 0.0  # Seconds of the current interval spent not training.

  @contextlib.contextmanager
  def excluding(self, wait: Callable[[], object] | None = None):
    """Times the block as not training. `wait` runs first, on the training
    clock: it blocks until the steps already dispatched have run (JAX
    dispatches asynchronously, so they would otherwise finish inside the
    block and their time would be taken out)."""
    if wait is not None:
      wait()
    start = time.monotonic()
    try:
      yield
    finally:
      self.excluded += time.monotonic() - start

  def first_step_done(self, step: int, wait: Callable[[], object]) -> None:
    """Starts the clock after `step`, the session's first (it compiles the
    step; a fresh run's takes seconds to minutes). `wait` blocks until it
    has run."""
    wait()
    self.last_step, self.last_time, self.excluded = step, time.monotonic(), 0.0

  def steps_per_second(self, step: int) -> float:
    """The training rate since the last line; starts the next interval."""
    now = time.monotonic()
    seconds = now - self.last_time - self.excluded
    rate = (step - self.last_step) / max(seconds, 1e-9)
    self.last_step, self.last_time, self.excluded = step, now, 0.0
    return rate

  def line(self, step: int, metrics: dict) -> str:
    width = len(str(self.total))
    head = (f'step {step:>{width}}/{self.total} '
            f'(epoch {step / self.steps_per_epoch:5.1f}) | '
            f"loss {metrics['loss']:.4f} | acc {100 * metrics['accuracy']:6.2f}% | "
            f"lr {metrics['learning_rate']:.3g} | ")
    if step <= self.last_step:  # Only the compiling step so far: no rate yet.
      return head + 'compiled; ex/s and ETA from the next line'
    rate = self.steps_per_second(step)
    eta = datetime.timedelta(seconds=round((self.total - step) / max(rate, 1e-9)))
    return head + f'{rate * self.batch_size:9,.0f} ex/s | ETA {eta}'

  def eval_line(self, step: int, metrics: dict, split: str) -> str:
    return (f"  {split} at step {step}: loss {metrics['loss']:.4f} | "
            f"acc {100 * metrics['accuracy']:.2f}%")
