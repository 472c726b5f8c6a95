"""A checkpoint resumes on another topology (issue 25): saved on 8 (forced
CPU) devices, resumed on 1 and on 2; saved on 1, resumed on 8; saved by 2
processes, resumed by 1, and the reverse; both pipelines. Each ends at the
parameters of an unbroken run, to float tolerance.

Exact in data, not bitwise: every case reads the same batches in the same
order (the device pipeline's order is a function of (seed, step); grain's
global batch k is the same for any process, device or worker count, and the
iterator resumes at the checkpoint's step), with the same dropout masks and
augmentation (drawn from the step's key, whatever the sharding). What
differs is the order of the cross-device sums, hence float tolerance. On
the same topology a resume is bitwise (tests/test_resume.py), also with
another grain worker count (tests/test_records.py).
"""
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import portpicker
import pytest

from lib import checkpointing
from tests.conftest import ROOT, run_module
from tests.test_multiprocess import ARGS, _env

pytestmark = pytest.mark.slow

# ARGS: digits_cnn (dropout 0.5, random_shift 1), 8 steps of 64, plain SGD
# (Adam's 1/sqrt(v) would magnify rounding differences). Checkpoints at 4.
RUN = [*ARGS, '--config.train.checkpoint_every_steps=4',
       '--config.data.random_flip=True',  # Flips in the step, from its key.
       # The plain gradients: the CPU rewrites' tie routing differs between
       # 1 and 8 devices (tests/test_data_parallel.py).
       '--config.train.fast_cpu_gradients=off']


def _params(workdir):
  return checkpointing.load_state(os.path.join(workdir, 'checkpoints'))['params']


def _assert_close(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=2e-5, atol=2e-6)


def _train(workdir, data_dir, pipeline, devices, *extra):
  proc = run_module('experiments.train', *RUN, f'--workdir={workdir}',
                    f'--config.data.data_dir={data_dir}',
                    f'--config.data.pipeline={pipeline}', *extra, devices=devices)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


def _train_processes(workdir, data_dir, pipeline, processes=2):
  port = portpicker.pick_unused_port()
  procs = [subprocess.Popen(
      [sys.executable, '-m', 'experiments.train', *RUN, f'--workdir={workdir}',
       f'--config.data.data_dir={data_dir}', f'--config.data.pipeline={pipeline}',
       f'--coordinator_address=127.0.0.1:{port}', f'--num_processes={processes}',
       f'--process_id={i}'],
      cwd=ROOT, env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True) for i in range(processes)]
  outputs = [p.communicate(timeout=300) for p in procs]
  for p, (_, err) in zip(procs, outputs):
    assert p.returncode == 0, err[-3000:]
  return outputs[0][0]


def _saved_at_step_4(source, target):
  """A copy of a finished run as if it had stopped after its step-4 save."""
  shutil.copytree(source, target)
  shutil.rmtree(os.path.join(target, 'checkpoints', '8'))
  os.remove(os.path.join(target, 'results.json'))
  return str(target)


@pytest.fixture(scope='module', params=['device', 'grain'])
def unbroken(request, data_dir, tmp_path_factory):
  """pipeline, {devices: workdir of an unbroken run}."""
  pipeline, root = request.param, tmp_path_factory.mktemp(request.param)
  runs = {}
  for devices in (1, 8):
    runs[devices] = str(root / f'unbroken{devices}')
    _train(runs[devices], data_dir, pipeline, devices)
  _assert_close(_params(runs[1]), _params(runs[8]))
  return pipeline, runs


@pytest.mark.parametrize('saved_on, resumed_on', [(8, 1), (8, 2), (1, 8)])
def test_resumes_on_another_device_count(unbroken, data_dir, tmp_path,
                                         saved_on, resumed_on):
  pipeline, runs = unbroken
  if (pipeline, saved_on, resumed_on) in (('device', 8, 2), ('grain', 8, 1)):
    pytest.skip('test time: each pipeline resumes on fewer devices once')
  workdir = _saved_at_step_4(runs[saved_on], tmp_path / 'run')
  out = _train(workdir, data_dir, pipeline, resumed_on)
  assert 'resumed from the checkpoint at step 4' in out
  _assert_close(_params(workdir), _params(runs[resumed_on if resumed_on in runs else 1]))


def test_resumes_on_another_process_count(unbroken, data_dir, tmp_path):
  """2 processes x 2 devices -> 1 process, and (grain) 1 process -> 2."""
  pipeline, runs = unbroken
  two = str(tmp_path / 'two_processes')
  _train_processes(two, data_dir, pipeline)
  _assert_close(_params(two), _params(runs[1]))
  # Saved by 2 processes, resumed by 1 (on 2 devices).
  one = _saved_at_step_4(two, tmp_path / 'resumed_by_one')
  assert 'resumed from the checkpoint at step 4' in _train(one, data_dir, pipeline, 2)
  _assert_close(_params(one), _params(runs[1]))
  if pipeline == 'device':
    return  # Test time: its state has nothing per process (grain's has).
  # Saved by 1, resumed by 2.
  again = _saved_at_step_4(runs[1], tmp_path / 'resumed_by_two')
  assert 'resumed from the checkpoint at step 4' in _train_processes(again, data_dir, pipeline)
  _assert_close(_params(again), _params(runs[1]))


