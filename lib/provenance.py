"""Where a run came from: RUN/provenance.json, one record per (re)start.

Each start of a run appends what made it: the git commit and whether the
tree was dirty (with a hash of the diff, untracked files included), the
command line, Python and the versions of the packages that compute the
result, XLA_FLAGS and the effective speed switches, the backend, the device
kinds and counts, the process count and every process's host name. A run
resumed on other code or another machine shows it here; the sweep report
lists the commits of its runs and warns when they differ.
"""
import datetime
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys

import jax
import numpy as np

from lib import atomic

PROVENANCE_FILE = 'provenance.json'
PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'grain',
            'tensorflow-datasets', 'numpy')
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _git(*args: str) -> str | None:
  try:
    proc = subprocess.run(['git', '-C', REPO, *args], capture_output=True,
                          timeout=30, check=True)
  except (OSError, subprocess.SubprocessError):
    return None
  return proc.stdout.decode('utf-8', 'replace')


@functools.cache
def git_state() -> dict:
  """The code's commit, and whether (and how) the tree differs from it: read
  once per process, at its first run, since a process runs the code it
  imported then, whatever is committed while it runs (a study's later runs
  would otherwise name a commit made under them), and a study's hundreds of
  runs need not ask git three times each."""
  commit = _git('rev-parse', 'HEAD')
  if commit is None:
    return {'commit': None, 'dirty': None, 'diff_sha256': None}
  status = _git('status', '--porcelain') or ''
  diff = hashlib.sha256((status + (_git('diff', 'HEAD', '--binary') or '')).encode())
  for line in status.splitlines():  # Untracked files are part of the code too.
    if line.startswith('?? '):
      path = os.path.join(REPO, line[3:].strip('"'))
      if os.path.isfile(path):
        with open(path, 'rb') as f:
          diff.update(line[3:].encode() + b'\0' + f.read())
  dirty = bool(status.strip())
  return {'commit': commit.strip(), 'dirty': dirty,
          'diff_sha256': diff.hexdigest() if dirty else None}


def versions(names=PACKAGES) -> dict:
  """Each installed distribution's version, None where it is not installed."""
  out = {}
  for name in names:
    try:
      out[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      out[name] = None
  return out


def _host_names() -> list[str]:
  """Every process's host name, in process order (a collective: all call it)."""
  name = socket.gethostname()
  if jax.process_count() == 1:
    return [name]
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  raw = np.frombuffer(name.encode()[:255].ljust(256, b'\0'), np.uint8)
  every = np.asarray(multihost_utils.process_allgather(raw))
  return [bytes(row).rstrip(b'\0').decode() for row in every]


def record(start_step: int, switches: dict) -> dict:
  """This start's record; `switches` are the run's effective speed settings."""
  devices = jax.devices()
  kinds = {}
  for d in devices:
    kinds[d.device_kind] = kinds.get(d.device_kind, 0) + 1
  return {
      'time': datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec='seconds'),
      'start_step': start_step,
      'git': git_state(),
      'command': [sys.executable, *sys.argv],
      'python': platform.python_version(),
      'packages': versions(),
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
      'switches': switches,
      'backend': jax.default_backend(),
      'devices': kinds,
      'device_count': jax.device_count(),
      'local_device_count': jax.local_device_count(),
      'process_count': jax.process_count(),
      'hosts': _host_names(),
  }


def append(workdir: str, entry: dict) -> None:
  """Adds `entry` to workdir's provenance.json (atomically: a kill leaves the
  old file or the new one)."""
  atomic.write_json(os.path.join(workdir, PROVENANCE_FILE), read(workdir) + [entry])


def read(workdir: str) -> list[dict]:
  path = os.path.join(workdir, PROVENANCE_FILE)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return json.load(f)


def commits(workdir: str) -> list[str]:
  """The distinct commits (with '+dirty' where the tree was) a run came from."""
  seen = []
  for entry in read(workdir):
    git = entry.get('git') or {}
    name = (git.get('commit') or 'unknown')[:12] + ('+dirty' if git.get('dirty') else '')
    if name not in seen:
      seen.append(name)
  return seen
