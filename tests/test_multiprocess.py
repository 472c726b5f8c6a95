"""Two processes x two CPU devices (gloo collectives) train like one process."""
import os
import re
import shutil
import subprocess
import sys
import time

import jax
import numpy as np
import portpicker
import pytest

from lib import checkpointing
from tests.conftest import ROOT, run_module

pytestmark = pytest.mark.slow

ARGS = ['--config=configs/cnn.py:digits', '--config.train.num_epochs=0',
        '--config.train.num_steps=8', '--config.train.batch_size=64',
        '--config.train.log_every_steps=4',
        # Plain SGD: Adam divides by sqrt(v), so float-rounding differences in
        # near-zero gradients would grow into visible parameter differences.
        '--config.optimizer.name=sgd', '--config.optimizer.learning_rate=0.1']


def _env(devices: int) -> dict:
  return dict(os.environ, JAX_PLATFORMS='cpu',
              XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}')


def _params(workdir):
  return checkpointing.load_state(str(workdir / 'checkpoints'))['params']


def _assert_same(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=2e-5, atol=2e-6)


@pytest.fixture(scope='module')
def single_process(data_dir, tmp_path_factory):
  """Reference: the same global batch in one process on one device."""
  out = {}
  for pipeline in ('device', 'grain'):
    workdir = tmp_path_factory.mktemp(f'single_{pipeline}')
    proc = run_module('experiments.train', *ARGS, f'--workdir={workdir}',
                      f'--config.data.data_dir={data_dir}',
                      f'--config.data.pipeline={pipeline}')
    assert proc.returncode == 0, proc.stderr[-3000:]
    out[pipeline] = _params(workdir)
  return out


@pytest.mark.parametrize('pipeline', ['device', 'grain'])
def test_two_processes_by_hand_match_one_process(data_dir, tmp_path,
                                                  single_process, pipeline):
  port = portpicker.pick_unused_port()
  procs = [subprocess.Popen(
      [sys.executable, '-m', 'experiments.train', *ARGS,
       f'--workdir={tmp_path}', f'--config.data.data_dir={data_dir}',
       f'--config.data.pipeline={pipeline}',
       f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2',
       f'--process_id={i}'],
      cwd=ROOT, env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True) for i in range(2)]
  outputs = [p.communicate(timeout=300) for p in procs]
  for p, (out, err) in zip(procs, outputs):
    assert p.returncode == 0, err[-3000:]
  # Only process 0 reports.
  assert 'accuracy' in outputs[0][0] and 'accuracy' not in outputs[1][0]
  with open(tmp_path / 'results.json') as f:
    assert '"processes": 2' in f.read()
  _assert_same(_params(tmp_path), single_process[pipeline])


def test_srun_two_tasks_match_one_process(data_dir, tmp_path, single_process,
                                          slurm_cluster):
  srun = shutil.which('srun')
  proc = subprocess.run(
      [srun, '--ntasks=2', '--cpus-per-task=1', '--export=ALL',
       sys.executable, '-m', 'experiments.train', *ARGS,
       f'--workdir={tmp_path}', f'--config.data.data_dir={data_dir}',
       '--config.data.pipeline=grain'],
      cwd=ROOT, env=_env(2), capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(tmp_path / 'results.json') as f:
    assert '"processes": 2' in f.read()
  _assert_same(_params(tmp_path), single_process['grain'])


def test_when_a_process_dies_the_survivor_stops_within_the_timeout_naming_it(
    data_dir, tmp_path):
  """kill -9 of process 1: process 0 stops after --process_timeout_seconds
  (JAX's default made it wait ~95 s), and its last words name process 1."""
  port = portpicker.pick_unused_port()
  procs = [subprocess.Popen(
      [sys.executable, '-m', 'experiments.train', *ARGS[:1],
       f'--workdir={tmp_path}', f'--config.data.data_dir={data_dir}',
       '--config.train.num_epochs=5000', '--config.train.log_every_steps=5',
       f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2',
       f'--process_id={i}', '--process_timeout_seconds=8'],
      cwd=ROOT, env=_env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True) for i in range(2)]
  try:
    for line in procs[0].stdout:
      if line.startswith('step'):  # Both are training.
        break
    procs[1].kill()
    killed = time.time()
    _, err = procs[0].communicate(timeout=120)
    waited = time.time() - killed
  finally:
    for p in procs:
      p.kill()
      p.wait()
  assert procs[0].returncode != 0
  assert waited < 8 + 20, waited
  assert re.search(r'stopped sending heartbeats\):\s+1\b', err), err[-3000:]
  assert 'Fatal Python error' not in err  # No dump of every thread's stack.
