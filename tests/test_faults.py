"""A cluster's faults cost at most the work since the last checkpoint."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from lib import checkpointing, metrics_writer
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

STEPS = 1500


def _command(workdir, data_dir, *extra):
  return [sys.executable, '-m', 'experiments.train',
          '--config=configs/mlp.py:digits', f'--workdir={workdir}',
          f'--config.data.data_dir={data_dir}', '--config.data.pipeline=grain',
          '--config.train.num_epochs=0', f'--config.train.num_steps={STEPS}',
          '--config.train.batch_size=32', '--config.train.log_every_steps=50',
          '--config.train.checkpoint_every_steps=50', *extra]


def _run(workdir, data_dir, *extra, check=True):
  proc = subprocess.run(_command(workdir, data_dir, *extra), cwd=ROOT,
                        env=dict(os.environ, JAX_PLATFORMS='cpu'),
                        capture_output=True, text=True, timeout=300)
  if check:
    assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def _steps(workdir):
  ckpts = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(ckpts):
    return []
  return sorted(int(d) for d in os.listdir(ckpts) if d.isdigit() and
                os.path.exists(os.path.join(ckpts, d, 'commit_success.txt')))


def _start_and_wait_for_checkpoint_after(workdir, data_dir, after_step):
  proc = subprocess.Popen(_command(workdir, data_dir), cwd=ROOT,
                          env=dict(os.environ, JAX_PLATFORMS='cpu'),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
  deadline = time.time() + 120
  while (not _steps(workdir) or _steps(workdir)[-1] <= after_step) and \
      time.time() < deadline and proc.poll() is None:
    time.sleep(0.01)
  return proc


def _assert_bitwise_equal(a_dir, b_dir):
  a = checkpointing.load_state(str(a_dir / 'checkpoints'))
  b = checkpointing.load_state(str(b_dir / 'checkpoints'))
  assert int(a['step']) == int(b['step']) == STEPS
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)


@pytest.fixture(scope='module')
def straight(data_dir, tmp_path_factory):
  workdir = tmp_path_factory.mktemp('straight')
  _run(workdir, data_dir)
  return workdir


def test_sigterm_saves_and_exits_zero_then_resumes(data_dir, tmp_path, straight):
  proc = _start_and_wait_for_checkpoint_after(tmp_path, data_dir, 0)
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err[-3000:]
  assert 'SIGTERM: saved a checkpoint at step' in out
  stopped_at = int(out.split('SIGTERM: saved a checkpoint at step ')[1].split()[0])
  assert _steps(tmp_path)[-1] == stopped_at < STEPS
  resumed = _run(tmp_path, data_dir)
  assert f'resumed from the checkpoint at step {stopped_at}' in resumed.stdout
  _assert_bitwise_equal(straight, tmp_path)


def test_ctrl_c_saves_says_how_to_resume_and_exits_130(data_dir, tmp_path, straight):
  proc = _start_and_wait_for_checkpoint_after(tmp_path, data_dir, 0)
  proc.send_signal(signal.SIGINT)  # What the terminal sends on Ctrl-C.
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 130, err[-3000:]
  assert 'Traceback' not in err and 'KeyboardInterrupt' not in err, err[-3000:]
  assert err.startswith('Ctrl-C: stopping after this step with a checkpoint')
  (last,) = [l for l in out.splitlines() if l.startswith('Ctrl-C: ')]
  stopped_at = int(last.split('Ctrl-C: saved a checkpoint at step ')[1].split()[0])
  assert last.endswith('and stopped; run the same command again to resume '
                       f'(with --workdir={tmp_path})')
  assert _steps(tmp_path)[-1] == stopped_at < STEPS
  resumed = _run(tmp_path, data_dir)
  assert f'resumed from the checkpoint at step {stopped_at}' in resumed.stdout
  _assert_bitwise_equal(straight, tmp_path)


def _catches(pid: int, signum: int) -> bool:
  with open(f'/proc/{pid}/status') as f:
    caught = next(line for line in f if line.startswith('SigCgt:'))
  return bool(int(caught.split()[1], 16) & (1 << (signum - 1)))


def test_a_second_ctrl_c_stops_at_once(data_dir, tmp_path):
  """Even while JAX is still importing (the main thread inside C code,
  where Python runs no handler)."""
  workdir = tmp_path / 'run'
  proc = subprocess.Popen(_command(workdir, data_dir), cwd=ROOT,
                          env=dict(os.environ, JAX_PLATFORMS='cpu'),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 30
  # Python catches SIGINT from its start; ours is in place once SIGTERM is
  # caught too (lib/preemption.py install).
  while not _catches(proc.pid, signal.SIGTERM):
    assert time.time() < deadline and proc.poll() is None
    time.sleep(0.005)
  proc.send_signal(signal.SIGINT)
  time.sleep(0.05)
  proc.send_signal(signal.SIGINT)
  sent = time.time()
  out, err = proc.communicate(timeout=60)
  assert time.time() - sent < 5
  assert proc.returncode == 130, err[-3000:]
  assert err.splitlines()[-1].startswith('second Ctrl-C: stopped at once'), err[-3000:]
  assert 'Traceback' not in err
  assert not (workdir / 'results.json').exists()


def test_repeated_kill_9_ends_bitwise_identical(data_dir, tmp_path, straight):
  rng = random.Random(0)
  kills = 0
  while kills < 3:
    proc = _start_and_wait_for_checkpoint_after(
        tmp_path, data_dir, max(_steps(tmp_path), default=0))
    time.sleep(rng.uniform(0.0, 0.3))  # A random moment, often mid-save.
    proc.kill()
    proc.wait()
    if os.path.exists(tmp_path / 'results.json'):
      break
    kills += 1
  assert kills >= 2, 'the run finished before it could be killed twice'
  _run(tmp_path, data_dir)
  _assert_bitwise_equal(straight, tmp_path)
  # Each step is logged once despite the repeats after each kill.
  steps = [m['step'] for m in metrics_writer.read(str(tmp_path))
           if m['split'] == 'train']
  assert steps == sorted(set(steps))


def test_corrupted_latest_checkpoint_falls_back_to_previous(data_dir, tmp_path,
                                                            straight):
  proc = _start_and_wait_for_checkpoint_after(tmp_path, data_dir, 100)
  proc.kill()
  proc.wait()
  steps = _steps(tmp_path)
  latest, previous = steps[-1], steps[-2]
  # Corrupt every array file of the latest checkpoint (as a full disk or a
  # bad block would), keeping its commit marker.
  state_dir = tmp_path / 'checkpoints' / str(latest) / 'state'
  for root, _, files in os.walk(state_dir):
    for name in files:
      if name not in ('commit_success.txt', '_CHECKPOINT_METADATA'):
        path = os.path.join(root, name)
        with open(path, 'r+b') as f:
          f.truncate(max(0, os.path.getsize(path) // 3))
  resumed = _run(tmp_path, data_dir)
  assert f'the checkpoint at step {latest} is unreadable' in resumed.stdout
  assert f'resumed from the checkpoint at step {previous}' in resumed.stdout
  assert (tmp_path / 'unreadable_checkpoints' / str(latest)).is_dir()
  _assert_bitwise_equal(straight, tmp_path)


def test_nan_loss_stops_naming_the_step_and_keeps_good_checkpoints(data_dir, tmp_path):
  proc = _run(tmp_path, data_dir, '--config.optimizer.name=sgd',
              '--config.optimizer.learning_rate=1e4', check=False)
  assert proc.returncode == 3
  line = proc.stderr.strip().splitlines()[-1]
  assert line.startswith('error: the loss became') and ' at step ' in line
  bad_step = int(line.split(' at step ')[1].split(';')[0])
  assert all(s < bad_step for s in _steps(tmp_path))
  for step in _steps(tmp_path):
    state = checkpointing.load_state(str(tmp_path / 'checkpoints'), step)
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(state['params']))


def test_config_with_other_model_shape_is_refused_before_training(data_dir, tmp_path):
  _run(tmp_path, data_dir, '--config.train.num_steps=50')
  with open(tmp_path / 'config.json') as f:
    saved_config = f.read()
  before = metrics_writer.read(str(tmp_path))
  proc = _run(tmp_path, data_dir, '--config.train.num_steps=100',
              '--config.model.width=64', check=False)
  assert proc.returncode == 2  # First: the config is not the run's.
  assert proc.stderr.strip().splitlines() == [
      f'error: {tmp_path} was trained with another config (model.width 256 -> 64, '
      'train.num_steps 50 -> 100); resuming would mix two runs: use a new '
      '--workdir, or pass --allow_config_change to continue with the new values '
      'on purpose (config.json then records the change)']
  proc = _run(tmp_path, data_dir, '--config.train.num_steps=100',
              '--config.model.width=64', '--allow_config_change', check=False)
  assert proc.returncode == 2  # Asked for on purpose: the shapes still do not fit.
  assert proc.stderr.strip().startswith('error: the checkpoint in')
  assert 'does not fit this config' in proc.stderr
  assert metrics_writer.read(str(tmp_path)) == before
  with open(tmp_path / 'config.json') as f:
    assert f.read() == saved_config


def _catches_sigterm(pid: int) -> bool:
  return _catches(pid, signal.SIGTERM)


def test_sigterm_while_the_trainer_is_still_importing_stops_at_step_one(
    data_dir, tmp_path):
  """The handler is there from the entry point's first lines: a SIGTERM
  while JAX is still being imported ends in a checkpoint, not a kill."""
  workdir = tmp_path / 'run'
  proc = subprocess.Popen(_command(workdir, data_dir), cwd=ROOT,
                          env=dict(os.environ, JAX_PLATFORMS='cpu'),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 30
  while not _catches_sigterm(proc.pid):
    assert time.time() < deadline and proc.poll() is None
    time.sleep(0.005)
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=300)
  assert proc.returncode == 0, err[-3000:]
  assert 'SIGTERM: saved a checkpoint at step 1' in out
  assert _run(workdir, data_dir).returncode == 0
  assert json.loads((workdir / 'results.json').read_text())['steps'] == STEPS
