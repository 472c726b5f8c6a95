"""grain's worker processes die with the trainer, kill -9 included
(issue: never lose progress; 11 workers outlived a killed trainer)."""
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_grain_workers_die_when_the_trainer_is_killed(data_dir, tmp_path):
  trainer = subprocess.Popen(
      [sys.executable, '-m', 'experiments.train', '--config=configs/cnn.py:digits',
       f'--workdir={tmp_path / "run"}', f'--config.data.data_dir={data_dir}',
       '--config.data.pipeline=grain', '--config.data.worker_count=2',
       '--config.train.num_epochs=1000', '--config.train.log_every_steps=5'],
      cwd=ROOT, env=dict(os.environ, JAX_PLATFORMS='cpu'),
      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
  try:
    for line in trainer.stdout:  # Training has begun: the workers are up.
      if line.startswith('step'):
        break
    children = psutil.Process(trainer.pid).children(recursive=True)
    assert len(children) >= 2, children
  finally:
    trainer.send_signal(signal.SIGKILL)
    trainer.wait()
  deadline = time.time() + 20
  while time.time() < deadline and any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE
                                       for c in children):
    time.sleep(0.2)
  alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
  for c in alive:
    c.kill()
  assert not alive, f'{len(alive)} of {len(children)} worker processes outlived the trainer'
