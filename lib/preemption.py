"""Noticing SIGTERM, which SLURM sends before preemption or at the time limit.

One process: a signal handler sets a flag that the loop checks at each step
boundary. Several processes: they must all stop at the same step, so JAX's
preemption sync service (started by jax.distributed.initialize, which also
catches SIGTERM) picks the step, through Orbax's reached_preemption.
"""
import signal
import threading

import jax


class PreemptionWatch:

  def __init__(self, checkpoint_manager):
    self._manager = checkpoint_manager
    self._flag = threading.Event()
    self._previous = None
    if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, lambda *_: self._flag.set())

  def reached(self, step: int) -> bool:
    if jax.process_count() == 1:
      return self._flag.is_set()
    return self._manager.reached_preemption(step)

  def close(self):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
