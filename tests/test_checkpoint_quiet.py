"""Importing the checkpointing changes nothing in the process; what quiets
Orbax lives while a checkpointer is open (and, once a save was refused, for
the rest of that process: tests/test_storage_faults.py runs those in
subprocesses)."""
import logging
import subprocess
import sys

from tests.conftest import ROOT


def _installed():
  return sys.unraisablehook, [list(logging.getLogger(n).filters) for n in ('absl', 'asyncio')]


def test_importing_installs_nothing():
  code = """
import logging, sys
before = sys.unraisablehook, [list(logging.getLogger(n).filters) for n in ('absl', 'asyncio')]
from lib import checkpointing
after = sys.unraisablehook, [list(logging.getLogger(n).filters) for n in ('absl', 'asyncio')]
print(before == after)
"""
  proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                        text=True)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip() == 'True'


def test_a_checkpointer_quiets_only_while_open(tmp_path):
  from lib import checkpointing, orbax_noise  # pylint: disable=g-import-not-at-top
  before = _installed()
  quiet = (orbax_noise._drop_closed_loop,  # pylint: disable=protected-access
           [[*f, orbax_noise._FILTER] for f in before[1]])  # pylint: disable=protected-access
  first = checkpointing.Checkpointer(str(tmp_path / 'a'), 2)
  assert _installed() == quiet
  with checkpointing.Checkpointer(str(tmp_path / 'b'), 2):
    pass
  assert _installed() == quiet  # Nested: still quiet while the first is open.
  first.close()
  assert _installed() == before
  first.close()  # A second close changes nothing.
  assert _installed() == before
