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

_SIGTERM = threading.Event()
_installed = False


def install() -> None:
  """Catches SIGTERM from now on (main thread only).

  Training entry points call it first, before their imports (this module
  imports no JAX), so no moment of start-up is left to the default handler,
  which kills without a checkpoint or results. In a multi-process run
  jax.distributed.initialize then takes SIGTERM over (a SIGTERM before that
  is not seen by the others and is not acted on).
  """
  global _installed
  if _installed or threading.current_thread() is not threading.main_thread():
    return
  signal.signal(signal.SIGTERM, lambda *_: _SIGTERM.set())
  _installed = True


def clear() -> None:
  """Forgets a SIGTERM already received (for tests: one process, many runs)."""
  _SIGTERM.clear()


class PreemptionWatch:

  def __init__(self, checkpoint_manager):
    import jax  # pylint: disable=g-import-not-at-top
    self._manager = checkpoint_manager
    self._single = jax.process_count() == 1
    if self._single:  # For runs started from a library call.
      install()

  def reached(self, step: int) -> bool:
    if self._single:
      return _SIGTERM.is_set()
    return self._manager.reached_preemption(step)

  def close(self):
    """The handler stays installed: the run is not over until it exits."""
