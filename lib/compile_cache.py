"""JAX's persistent compilation cache, on for every entry point.

A process that finds a program's executable on disk loads it instead of
compiling it: the digits CNN's train step in 0.05 s instead of about 1 s
(experiments/bench/README.md). Where it lives, first match wins:

  $JAXVISION_COMPILATION_CACHE     a directory, or `off` to disable it
  $XDG_CACHE_HOME/jaxvision/xla    else ~/.cache/jaxvision/xla (per user)

A SLURM study's sbatch.sh sets the variable to STUDY/xla_cache (unless it is
already set), so all array tasks of a study share one cache on the file
system they already share: the first task to compile a program writes it,
the others load it.

Entries go into a subdirectory per jax version and host CPU: XLA:CPU
compiles for the host's instruction set and jax's cache key does not hold it,
so nodes with different CPUs that share a home directory must not share
executables. Writes are atomic (a temporary file, then rename): jax 0.12
writes entries in place, so a process reading while another writes, or a
writer killed mid-file, could leave a truncated entry that every later
process would fail to read.
"""
import hashlib
import os
import platform
import warnings

import jax
from jax._src import compilation_cache as jax_compilation_cache
from jax._src import lru_cache

from lib import atomic

ENV = 'JAXVISION_COMPILATION_CACHE'
OFF = 'off'
# Every program is written, however fast it compiled: on a 2-core machine
# even 0.1 s compiles add up over a start-up, and a cache hit takes ~ms.
MIN_COMPILE_SECONDS = 0.0


def base_dir() -> str | None:
  """The cache's root directory, or None when it is turned off."""
  chosen = os.environ.get(ENV, '').strip()
  if chosen.lower() == OFF:
    return None
  if chosen:
    return os.path.abspath(os.path.expanduser(chosen))
  root = os.environ.get('XDG_CACHE_HOME') or os.path.join(
      os.path.expanduser('~'), '.cache')
  return os.path.join(root, 'jaxvision', 'xla')


def host_fingerprint() -> str:
  """jax version and a short hash of the CPU model and its features."""
  text = platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      lines = f.read().splitlines()
    # The first processor's model and flags describe the instruction set.
    keep = ('model name', 'flags', 'Features', 'CPU implementer', 'CPU part')
    text += ''.join(sorted({l for l in lines if l.split(':')[0].strip() in keep}))
  except OSError:
    text += platform.processor()
  digest = hashlib.sha256(text.encode()).hexdigest()[:12]
  return f'jax{jax.__version__}-{platform.machine()}-{digest}'


class _AtomicCache(lru_cache.LRUCache):
  """jax's file cache with entries written to a temporary file and renamed."""

  def put(self, key: str, value: bytes) -> None:
    if self.eviction_enabled:  # Size-limited: jax's own locked path.
      return super().put(key, value)
    path = self.path / f'{key}{lru_cache._CACHE_SUFFIX}'  # pylint: disable=protected-access
    if path.exists():
      return
    with atomic.replacing(str(path), 'wb') as f:
      f.write(value)


def enable() -> str | None:
  """Turns the cache on for this process (before its first compilation);
  returns the directory used, or None if it is off or cannot be created."""
  base = base_dir()
  if base is None:
    return None
  directory = os.path.join(base, host_fingerprint())
  try:
    os.makedirs(directory, exist_ok=True)
  except OSError as e:
    warnings.warn(f'compilation cache off: cannot create {directory} ({e}); '
                  f'set {ENV} to a writable directory or to {OFF}')
    return None
  jax_compilation_cache.LRUCache = _AtomicCache  # What get_file_cache builds.
  # XLA:CPU cannot serialize a program with a oneDNN convolution and says
  # std::bad_alloc (experiments/bench/README.md): expected for the models
  # that use oneDNN (lib/xla_cpu.py), and harmless (that program is just
  # compiled again next time), so not a warning on every run.
  warnings.filterwarnings(
      'ignore', message=r'Error writing persistent compilation cache entry '
      r".*MemoryError: std::bad_alloc")
  jax.config.update('jax_compilation_cache_dir', directory)
  jax.config.update('jax_persistent_cache_min_compile_time_secs',
                    MIN_COMPILE_SECONDS)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', -1)
  return directory
