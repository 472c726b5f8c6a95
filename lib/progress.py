"""Human-readable progress lines: step, loss, accuracy, examples/s, ETA."""
import datetime
import sys
import time


def say(message: str) -> None:
  print(message, file=sys.stdout, flush=True)


class Meter:
  """Throughput over the last logging interval and time left at that pace."""

  def __init__(self, start_step: int, total_steps: int, batch_size: int,
               steps_per_epoch: int):
    self.total, self.batch_size = total_steps, batch_size
    self.steps_per_epoch = steps_per_epoch
    self.last_step, self.last_time = start_step, time.time()

  def line(self, step: int, metrics: dict) -> str:
    now = time.time()
    rate = (step - self.last_step) / max(now - self.last_time, 1e-9)
    self.last_step, self.last_time = step, now
    eta = datetime.timedelta(seconds=round((self.total - step) / max(rate, 1e-9)))
    width = len(str(self.total))
    return (f'step {step:>{width}}/{self.total} '
            f'(epoch {step / self.steps_per_epoch:5.1f}) | '
            f"loss {metrics['loss']:.4f} | acc {100 * metrics['accuracy']:6.2f}% | "
            f'{rate * self.batch_size:9,.0f} ex/s | ETA {eta}')

  def eval_line(self, step: int, metrics: dict) -> str:
    # Time spent evaluating is not training throughput.
    self.last_time = time.time()
    return (f"  eval at step {step}: loss {metrics['loss']:.4f} | "
            f"acc {100 * metrics['accuracy']:.2f}%")
