"""One run per directory at a time: an exclusive lock on RUN/.lock.

Two trainers on one workdir (a resubmitted job, a second terminal) would
overwrite each other's checkpoints and metrics. The lock is fcntl's, so the
operating system releases it when its holder dies, kill -9 included; the
file keeps the holder's pid and host so a refusal can name them. A
multi-process run takes it on process 0 only.
"""
import fcntl
import os
import socket

from lib import errors

LOCK_FILE = '.lock'


class RunLock:
  """Holds the lock of `workdir` until `release()`, the end of its `with`
  block, or the process's end."""

  def __init__(self, workdir: str):
    os.makedirs(workdir, exist_ok=True)
    self.path = os.path.join(workdir, LOCK_FILE)
    self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.read(self._fd, 200).decode(errors='replace').strip() or 'another process'
      os.close(self._fd)
      raise errors.UserError(
          f'{os.path.abspath(workdir)} is in use by {holder}; wait for that '
          'run to end or use another --workdir') from None
    os.ftruncate(self._fd, 0)
    os.write(self._fd, f'pid {os.getpid()} on {socket.gethostname()}\n'.encode())

  def release(self) -> None:
    if self._fd is not None:
      fcntl.flock(self._fd, fcntl.LOCK_UN)
      os.close(self._fd)
      self._fd = None

  def __enter__(self) -> 'RunLock':
    return self

  def __exit__(self, *_) -> None:
    self.release()
