"""A full disk and a read-only run directory: one line, exit 2, and the
committed checkpoints stay good (issue: never lose progress).

The file systems are real: small tmpfs mounts (they need root, as the test
SLURM cluster does; elsewhere these tests skip).
"""
import os
import subprocess

import jax
import numpy as np
import pytest

from lib import checkpointing
from tests.conftest import run_module

pytestmark = pytest.mark.slow


@pytest.fixture
def tmpfs(tmp_path):
  """mount(size, read_only) -> a fresh tmpfs directory; unmounted at the end."""
  mounted = []

  def mount(size: str, read_only: bool = False) -> str:
    path = tmp_path / f'fs{len(mounted)}'
    path.mkdir()
    options = f'size={size}' + (',ro' if read_only else '')
    proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', str(path)],
                          capture_output=True, text=True)
    if proc.returncode:
      pytest.skip(f'cannot mount a tmpfs here: {proc.stderr.strip()}')
    mounted.append(path)
    return str(path)

  yield mount
  for path in mounted:
    subprocess.run(['umount', '-l', str(path)], check=False)


def _train(data_dir, workdir, *extra):
  return run_module(
      'experiments.train', '--config=configs/cnn.py:digits',
      f'--workdir={workdir}', f'--config.data.data_dir={data_dir}',
      '--config.train.num_epochs=0', '--config.train.num_steps=60',
      '--config.train.checkpoint_every_steps=10', '--config.train.keep_checkpoints=20',
      *extra)


def test_a_full_disk_is_one_line_and_the_run_resumes_once_there_is_room(
    data_dir, tmpfs, tmp_path):
  disk = tmpfs('2M')
  workdir = os.path.join(disk, 'run')
  full = _train(data_dir, workdir)
  assert full.returncode == 2, full.stderr[-3000:]
  lines = full.stderr.strip().splitlines()
  assert len(lines) == 1, full.stderr[-3000:]
  assert lines[0].startswith('error: the file system refused: no space left on device')
  committed = checkpointing.Checkpointer(os.path.join(workdir, 'checkpoints'), 20)
  step = committed.committed_step()
  committed.close()
  assert step is not None and step < 60, 'the test needs a disk that fills mid-run'
  assert f'the last committed one (step {step}) is intact' in lines[0]

  subprocess.run(['mount', '-o', 'remount,size=64M', disk], check=True)
  resumed = _train(data_dir, workdir)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f'resumed from the checkpoint at step {step}' in resumed.stdout
  unbroken = _train(data_dir, str(tmp_path / 'unbroken'))
  assert unbroken.returncode == 0, unbroken.stderr[-3000:]
  a = checkpointing.load_state(os.path.join(workdir, 'checkpoints'))
  b = checkpointing.load_state(str(tmp_path / 'unbroken' / 'checkpoints'))
  for x, y in zip(jax.tree.leaves(a['params']), jax.tree.leaves(b['params'])):
    np.testing.assert_array_equal(x, y)  # Bitwise: as if never interrupted.


def test_a_read_only_workdir_is_one_line(data_dir, tmpfs):
  disk = tmpfs('1M', read_only=True)
  proc = _train(data_dir, os.path.join(disk, 'run'))
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      f'error: the file system refused: read-only file system '
      f'({disk}/run); use a writable --workdir']
