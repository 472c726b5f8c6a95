"""Noticing SIGTERM (SLURM sends it before preemption or at the time limit)
and Ctrl-C (SIGINT).

One process: a signal handler sets a flag that the loop checks at each step
boundary. It is installed when the entry point starts (`install`) and stays
for the life of the process, so a signal during start-up stops the run at
its first step with a checkpoint, and one after the last checkpoint lets the
run write its results, instead of killing it on the spot. A second Ctrl-C
stops at once (what was saved is kept; the steps since are lost, as with
kill -9). Several processes: they must all stop at the same step, so JAX's
preemption sync service (started by jax.distributed.initialize, which also
catches SIGTERM) picks the step, through Orbax's reached_preemption; Ctrl-C
is not shared between processes, so there it stops at once.
"""
import os
import signal
import sys
import threading

_STOP = threading.Event()
_received: list[str] = []  # The signals' names, in order of arrival.
_installed = False
_interrupt_installed = False
_lock = threading.RLock()  # The handler may run inside the thread's turn.
# Ctrl-Cs counted by each route that sees them (see _watch_wakeup_fd).
_counts = {'handler': 0, 'wakeup': 0}
INTERRUPTED_EXIT_STATUS = 130  # 128 + SIGINT, as a shell reports Ctrl-C.


def _say(text: str) -> None:
  # os.write, not print: a handler may run while the main thread is inside
  # a print to the same stream (a reentrant call is a RuntimeError).
  os.write(sys.stderr.fileno(), (text + '\n').encode())


def _on_sigterm(*_) -> None:
  if not _STOP.is_set():
    _received.append('SIGTERM')
  _STOP.set()


def _interrupted(route: str) -> None:
  """One more Ctrl-C seen by `route`. Each Ctrl-C reaches both routes when
  both work, and Python may coalesce two pending ones into one handler call:
  the larger count is the number of presses."""
  with _lock:
    before = max(_counts.values())
    _counts[route] += 1
    presses = max(_counts.values())
    if presses == before:
      return
    if presses == 1:
      if not _STOP.is_set():
        _received.append('SIGINT')
      _STOP.set()
      _say('Ctrl-C: stopping after this step with a checkpoint (Ctrl-C again '
           'stops at once, losing the steps since the last checkpoint)')
      return
  _say('second Ctrl-C: stopped at once; the last saved checkpoint (if any) '
       'is kept: run the same command again, with the same --workdir, to '
       'resume from it')
  os._exit(INTERRUPTED_EXIT_STATUS)  # pylint: disable=protected-access


def _watch_wakeup_fd(read_fd: int) -> None:
  """Python runs signal handlers in the main thread between bytecodes, so
  while it is inside XLA (a compile, a long step) a handler waits. Its C
  handler writes each signal's number to the wakeup fd at once, though: this
  thread reads it, so the second Ctrl-C stops the process even then."""
  while True:
    try:
      data = os.read(read_fd, 64)
    except OSError:
      return
    if not data:
      return
    for number in data:
      if number == signal.SIGINT:
        _interrupted('wakeup')


def install(interrupt: bool = False) -> None:
  """Catches SIGTERM (and Ctrl-C if `interrupt`) from now on (main thread only).

  Training entry points call it first, before their imports (this module
  imports no JAX), so no moment of start-up is left to the default handler,
  which kills without a checkpoint or results. In a multi-process run
  jax.distributed.initialize then takes SIGTERM over (a SIGTERM before that
  is not seen by the others and is not acted on).
  """
  global _installed, _interrupt_installed
  if threading.current_thread() is not threading.main_thread():
    return
  if interrupt and not _interrupt_installed:
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    threading.Thread(target=_watch_wakeup_fd, args=(read_fd,), daemon=True,
                     name='ctrl-c').start()
    signal.signal(signal.SIGINT, lambda *_: _interrupted('handler'))
    _interrupt_installed = True
  if not _installed:  # Last: once SIGTERM is caught, everything is in place.
    signal.signal(signal.SIGTERM, _on_sigterm)
    _installed = True


def received() -> str:
  """The name of the signal that asked the run to stop ('SIGTERM' when none)."""
  return _received[0] if _received else 'SIGTERM'


def stop(signal_name: str = 'SIGINT') -> None:
  """Asks every training loop of this process to stop at its next step with
  a checkpoint, as a signal does (lib/multi_seed.py, when the thread that
  waits for seeds trained side by side is interrupted)."""
  if not _STOP.is_set():
    _received.append(signal_name)
  _STOP.set()


def clear() -> None:
  """Forgets a signal already received (for tests: one process, many runs)."""
  _STOP.clear()
  _received.clear()


class PreemptionWatch:

  def __init__(self, checkpoint_manager):
    import jax  # pylint: disable=g-import-not-at-top
    self._manager = checkpoint_manager
    self._single = jax.process_count() == 1
    if self._single:  # For runs started from a library call.
      install()
    elif _interrupt_installed:
      # The other processes would not stop at this step: Ctrl-C stops this
      # one at once (they follow within --process_timeout_seconds); the
      # last checkpoint is kept.
      signal.signal(signal.SIGINT, signal.SIG_DFL)

  def reached(self, step: int) -> bool:
    if self._single:
      return _STOP.is_set()
    return self._manager.reached_preemption(step)

  def close(self):
    """The handler stays installed: the run is not over until it exits."""
