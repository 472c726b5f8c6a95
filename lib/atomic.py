"""Files written whole or not at all: a reader, or a run resumed after kill -9,
sees the old file or the new one, never half of one.

Our own because the standard library has no atomic write and the package
that had one (atomicwrites) is unmaintained. The temporary file is beside the
target (os.replace is atomic only within one file system), named uniquely so
that several processes (a study's array tasks, a run's processes) may write
at once, and without the target's name in it: TensorBoard reads any file
with 'tfevents' in its name.
"""
import contextlib
import json
import os
import uuid


@contextlib.contextmanager
def replacing(path: str, mode: str = 'w', permissions: int | None = None):
  """A file object whose contents replace `path` when the block ends
  without an error; on an error `path` is untouched and nothing is left."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tmp = os.path.join(directory, f'.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp')
  try:
    with open(tmp, mode) as f:
      yield f
    if permissions is not None:
      os.chmod(tmp, permissions)
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise


def write_json(path: str, obj, **dump_args) -> None:
  with replacing(path) as f:
    json.dump(obj, f, indent=2, **dump_args)
