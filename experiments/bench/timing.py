"""Step timing that stays fair on a busy machine.

Each contender is a function `run(k)` that runs k training steps and waits
for them to finish. The contenders of one comparison are timed in
alternating windows (A B A B ...), so a burst of load from other processes
hits both alike; each window runs enough steps to last at least
`min_window_s`, so the per-window sync and timer costs vanish for tiny steps
while the steps inside a window dispatch back to back as in a training loop.
The figure per contender is the median over its windows of seconds per step;
the best window is kept too (the machine's speed with nothing else running).
"""
import math
import statistics
import time
from typing import Callable


def _window_seconds(run: Callable[[int], None], k: int) -> float:
  start = time.perf_counter()
  run(k)
  return time.perf_counter() - start


def interleaved(runners: dict[str, Callable[[int], None]], steps: int,
                warmup: int = 2, min_window_s: float = 0.2,
                max_seconds: float = 60.0, min_windows: int = 3) -> dict:
  """{name: {'median_s', 'best_s', 'windows', 'steps'}}, seconds per step.

  `steps` is how many steps each contender runs in the timed windows; the
  timing stops earlier once `max_seconds` have passed for all contenders
  together, but never before `min_windows` windows each.
  """
  per_step, window_steps = {}, {}
  for name, run in runners.items():
    run(warmup)  # Compilation and first-touch costs happen here.
    estimate = _window_seconds(run, 1)
    window_steps[name] = max(1, min(steps, math.ceil(min_window_s /
                                                     max(estimate, 1e-6))))
    per_step[name] = []
  deadline = time.perf_counter() + max_seconds
  done = dict.fromkeys(runners, 0)
  while True:
    for name, run in runners.items():
      k = window_steps[name]
      per_step[name].append(_window_seconds(run, k) / k)
      done[name] += k
    enough = all(n >= steps for n in done.values())
    out_of_time = time.perf_counter() > deadline
    if (enough or out_of_time) and all(
        len(v) >= min_windows for v in per_step.values()):
      break
  return {name: {'median_s': statistics.median(v), 'best_s': min(v),
                 'windows': len(v), 'steps': done[name]}
          for name, v in per_step.items()}
