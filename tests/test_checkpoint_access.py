"""Checkpoints a process may not read: one line, exit 2, nothing moved, and
never a hang between processes; one another process count saved resumes.
(issue: never lose progress.)

Permissions are real: as root, the trainer whose reads must fail runs
without the capabilities that let root read any file (setpriv), so a mode
of 000 stops it as it stops any user.
"""
import os
import shutil
import stat
import subprocess
import sys

import portpicker
import pytest

from tests.conftest import ROOT
from tests.test_multiprocess import ARGS

pytestmark = pytest.mark.slow

NO_OVERRIDE = ['setpriv', '--bounding-set=-dac_override,-dac_read_search']


def _env(devices: int) -> dict:
  return dict(os.environ, JAX_PLATFORMS='cpu',
              XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}')


@pytest.fixture
def shared(data_dir, tmp_path):
  """(a directory, the dataset, the prefix that makes permissions bind)."""
  prefix = NO_OVERRIDE if os.geteuid() == 0 else []
  probe = subprocess.run(prefix + [sys.executable, '-c', 'import lib.trainer'],
                         cwd=ROOT, env=_env(1), capture_output=True, text=True)
  if probe.returncode:
    pytest.skip(f'cannot drop root\'s file capabilities here: {probe.stderr[-300:]}')
  return str(tmp_path), data_dir, prefix


def _train(prefix, top, data, workdir, *extra, processes=1, as_nobody_too=()):
  """Starts `processes` trainers (process i runs with prefix if i in
  as_nobody_too, or always for one process) and waits for all of them."""
  port = portpicker.pick_unused_port()
  procs = []
  for i in range(processes):
    multi = ([f'--coordinator_address=127.0.0.1:{port}', f'--num_processes={processes}',
              f'--process_id={i}'] if processes > 1 else [])
    who = prefix if (processes == 1 or i in as_nobody_too) else []
    procs.append(subprocess.Popen(
        who + [sys.executable, '-m', 'experiments.train', *ARGS,
               f'--workdir={workdir}', f'--config.data.data_dir={data}',
               '--config.train.checkpoint_every_steps=4', *multi, *extra],
        cwd=ROOT, env=_env(2 if processes > 1 else 1),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  outputs = [p.communicate(timeout=240) for p in procs]
  return [(p.returncode, *out) for p, out in zip(procs, outputs)]


def _unfinish(workdir):
  """As if killed after the step-4 checkpoint."""
  os.remove(os.path.join(workdir, 'results.json'))
  shutil.rmtree(os.path.join(workdir, 'checkpoints', '8'))


def test_an_unreadable_checkpoint_directory_is_one_line_and_nothing_moves(shared):
  top, data, prefix = shared
  workdir = os.path.join(top, 'run')
  [(rc, _, err)] = _train(prefix, top, data, workdir)
  assert rc == 0, err[-3000:]
  _unfinish(workdir)
  step = os.path.join(workdir, 'checkpoints', '4')
  os.chmod(step, 0)  # chmod 000
  try:
    for _ in range(2):  # The same line on every restart, never a crash loop.
      [(rc, _, err)] = _train(prefix, top, data, workdir)
      assert rc == 2, err[-3000:]
      lines = err.strip().splitlines()
      assert len(lines) == 1 and lines[0].startswith(
          'error: the file system refused: permission denied'), err[-3000:]
      assert f'permission denied ({step})' in lines[0]
      assert os.path.isdir(step)
      assert not os.path.exists(os.path.join(workdir, 'unreadable_checkpoints'))
  finally:
    os.chmod(step, stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)
  [(rc, out, err)] = _train(prefix, top, data, workdir)
  assert rc == 0 and 'resumed from the checkpoint at step 4' in out, err[-3000:]


def test_a_checkpoint_one_process_cannot_read_stops_both_at_once(shared):
  """Process 1 alone is refused: both processes stop with one line each,
  in seconds, instead of waiting for each other until JAX gives up."""
  if os.geteuid() != 0:
    pytest.skip('needs root, so that one process may read what the other may not')
  top, data, prefix = shared
  workdir = os.path.join(top, 'run')
  runs = _train(prefix, top, data, workdir, processes=2)
  assert all(rc == 0 for rc, _, _ in runs), runs[0][2][-3000:]
  _unfinish(workdir)
  os.chmod(os.path.join(workdir, 'checkpoints', '4'), 0)  # Process 0 reads it anyway.
  runs = _train(prefix, top, data, workdir, processes=2, as_nobody_too=(1,))
  for rc, _, err in runs:
    assert rc == 2, err[-3000:]
    assert len(err.strip().splitlines()) == 1, err[-3000:]
  assert "could not read" in runs[0][2] and "permission denied" in runs[1][2]
  assert os.path.isdir(os.path.join(workdir, 'checkpoints', '4'))


def test_a_grain_run_resumed_on_another_process_count_goes_on(shared):
  """grain's iterator resumes at the checkpoint's step: its saved per-process
  state is not needed (tests/test_resume_topology.py compares parameters)."""
  top, data, prefix = shared
  workdir = os.path.join(top, 'run')
  runs = _train([], top, data, workdir, '--config.data.pipeline=grain', processes=2)
  assert all(rc == 0 for rc, _, _ in runs), runs[0][2][-3000:]
  _unfinish(workdir)
  [(rc, out, err)] = _train([], top, data, workdir, '--config.data.pipeline=grain')
  assert rc == 0, err[-3000:]
  assert 'resumed from the checkpoint at step 4' in out
