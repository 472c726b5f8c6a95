"""A run killed mid-way and started again ends where an unbroken run ends."""
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from lib import checkpointing
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _command(workdir, data_dir, pipeline):
  return [sys.executable, '-m', 'experiments.train',
          '--config=configs/mlp.py:digits', f'--workdir={workdir}',
          f'--config.data.data_dir={data_dir}',
          f'--config.data.pipeline={pipeline}',
          '--config.train.num_epochs=0', '--config.train.num_steps=1500',
          '--config.train.batch_size=32', '--config.train.log_every_steps=100',
          '--config.train.checkpoint_every_steps=100']


def _committed_steps(workdir):
  ckpts = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(ckpts):
    return []
  return [d for d in os.listdir(ckpts) if d.isdigit() and
          os.path.exists(os.path.join(ckpts, d, 'commit_success.txt'))]


@pytest.mark.parametrize('pipeline', ['device', 'grain'])
def test_killed_run_resumes_to_identical_parameters(data_dir, tmp_path, pipeline):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  straight = tmp_path / 'straight'
  subprocess.run(_command(straight, data_dir, pipeline), cwd=ROOT, env=env,
                 check=True, capture_output=True, timeout=300)

  broken = tmp_path / 'broken'
  proc = subprocess.Popen(_command(broken, data_dir, pipeline), cwd=ROOT,
                          env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  deadline = time.time() + 120
  while not _committed_steps(broken) and time.time() < deadline:
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not os.path.exists(broken / 'results.json'), 'run finished before the kill'

  resumed = subprocess.run(_command(broken, data_dir, pipeline), cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert 'resumed from the checkpoint at step' in resumed.stdout

  a = checkpointing.load_state(str(straight / 'checkpoints'))
  b = checkpointing.load_state(str(broken / 'checkpoints'))
  assert int(a['step']) == int(b['step']) == 1500
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)  # Bitwise: same seed, same machine.
