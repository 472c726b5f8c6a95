"""Quiets what Orbax and tensorstore print after a save the file system
refused: the trainer reports that as one line (lib/session.py
guarded), so the rest is noise. Installed while a checkpointer is open, and
for the rest of the process once a save was refused; importing this changes
nothing."""
import contextlib
import logging
import sys
import threading

from lib import errors

_LOGGERS = ('absl', 'asyncio')


class _DropStorageErrors(logging.Filter):
  """Orbax's background save threads log a full disk's error with its
  traceback several times over."""

  def filter(self, record: logging.LogRecord) -> bool:
    if record.levelno < logging.ERROR or not (
        'orbax' in record.pathname or record.name == 'asyncio'):
      return True
    exc = record.exc_info[1] if record.exc_info else None
    if exc is not None and errors.storage_problem(exc):
      return False
    return errors.storage_problem(ValueError(record.getMessage())) is None


_FILTER = _DropStorageErrors()
_state = {'open': 0, 'hook': None}  # Quieted blocks open; the hook replaced.
_lock = threading.Lock()  # Seeds side by side open and close checkpointers in threads.


def _drop_closed_loop(unraisable) -> None:
  """After a failed save, tensorstore's write callbacks still complete into
  Orbax's closed event loop; Python reports each as an unraisable
  'Event loop is closed', one traceback per array. Nothing is lost by
  dropping them: the save's own error is reported."""
  value = unraisable.exc_value
  if not (isinstance(value, RuntimeError) and str(value) == 'Event loop is closed'):
    _state['hook'](unraisable)


def _install() -> None:
  with _lock:
    if _state['open'] == 0:
      for name in _LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)
      _state['hook'], sys.unraisablehook = sys.unraisablehook, _drop_closed_loop
    _state['open'] += 1


def _remove() -> None:
  with _lock:
    _state['open'] -= 1
    if _state['open'] == 0:
      for name in _LOGGERS:
        logging.getLogger(name).removeFilter(_FILTER)
      if sys.unraisablehook is _drop_closed_loop:  # Else someone replaced it since.
        sys.unraisablehook = _state['hook']


@contextlib.contextmanager
def quieted():
  """The filter and hook above, installed by the first of nested blocks
  and removed by the last, which gives the process back its own."""
  _install()
  try:
    yield
  finally:
    _remove()


def quiet_from_now_on() -> None:
  """After a save the file system refused: the refused writes are asyncio
  tasks collected whenever the garbage collector gets to them, often after
  the checkpointer closed, even at exit, and asyncio then logs each one's
  traceback ('Task exception was never retrieved') around the one-line
  error. Only storage errors and the closed loop's reports are dropped."""
  _install()  # Never removed: those tasks may outlive every checkpointer.
