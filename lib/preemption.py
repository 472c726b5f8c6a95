"""Noticing SIGTERM, which SLURM sends before preemption or at the time limit.

One process: a signal handler sets a flag that the loop checks at each step
boundary. It is installed when the entry point starts (`install`) and stays
for the life of the process, so a SIGTERM during start-up stops the run at
its first step with a checkpoint, and one after the last checkpoint lets the
run write its results, instead of killing it on the spot. Several processes:
they must all stop at the same step, so JAX's preemption sync service
(started by jax.distributed.initialize, which also catches SIGTERM) picks
the step, through Orbax's reached_preemption.
"""
import signal
import threading

import jax

_SIGTERM = threading.Event()
_installed = False


def install() -> None:
  """Catches SIGTERM from now on (main thread of a one-process run only)."""
  global _installed
  if (_installed or jax.process_count() > 1 or
      threading.current_thread() is not threading.main_thread()):
    return
  signal.signal(signal.SIGTERM, lambda *_: _SIGTERM.set())
  _installed = True


def clear() -> None:
  """Forgets a SIGTERM already received (for tests: one process, many runs)."""
  _SIGTERM.clear()


class PreemptionWatch:

  def __init__(self, checkpoint_manager):
    self._manager = checkpoint_manager
    install()

  def reached(self, step: int) -> bool:
    if jax.process_count() == 1:
      return _SIGTERM.is_set()
    return self._manager.reached_preemption(step)

  def close(self):
    """The handler stays installed: the run is not over until it exits."""
