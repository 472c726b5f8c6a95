"""Ctrl-C in a study keeps its progress, as in a single run (tests/test_faults.py):
a checkpoint at the current step, one line saying how to go on, exit 130 and
no traceback; the same command then resumes from that step."""
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _checkpoints(directory) -> list[str]:
  return [root for root, _, files in os.walk(directory)
          if 'commit_success.txt' in files]


def _interrupt_after_first_checkpoint(command) -> subprocess.CompletedProcess:
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  out_dir = next(a.split('=', 1)[1] for a in command
                 if a.startswith(('--study_dir=', '--out=')))
  deadline = time.time() + 240
  while not _checkpoints(out_dir) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.05)
  assert proc.poll() is None, 'finished before its first checkpoint'
  proc.send_signal(signal.SIGINT)  # What the terminal sends on Ctrl-C.
  out, err = proc.communicate(timeout=180)
  return subprocess.CompletedProcess(command, proc.returncode, out, err)


@pytest.mark.parametrize('entry_point', ['sweep', 'seeds'])
def test_ctrl_c_in_a_study_saves_and_the_same_command_resumes(
    entry_point, data_dir, tmp_path):
  out = str(tmp_path / 'out')
  common = [f'--set=data.data_dir={data_dir}'] if entry_point == 'sweep' else [
      f'--config.data.data_dir={data_dir}']
  steps = 'train.num_steps=4000'
  if entry_point == 'sweep':
    command = [sys.executable, '-m', 'experiments.sweep',
               '--sweep=configs/sweeps/ablation.py:digits,pooling', f'--study_dir={out}',
               '--seeds=1', '--set=train.num_epochs=0', f'--set={steps}',
               '--set=train.checkpoint_every_steps=20', *common]
  else:
    command = [sys.executable, '-m', 'experiments.seeds',
               '--config=configs/mlp.py:digits', f'--out={out}', '--seeds=2',
               '--config.train.num_epochs=0', f'--config.{steps}',
               '--config.train.checkpoint_every_steps=20', *common]
  stopped = _interrupt_after_first_checkpoint(command)
  assert stopped.returncode == 130, stopped.stderr[-3000:]
  assert 'Traceback' not in stopped.stderr, stopped.stderr[-3000:]
  (line,) = [l for l in stopped.stdout.splitlines() if l.startswith('Ctrl-C: saved')]
  step = int(line.split('at step ')[1].split()[0])
  assert 0 < step < 4000
  assert line.endswith('run the same command again to go on')

  # Resumed, not restarted: the second start says so before its first step
  # (then it is stopped; the resumed run's bitwise equality is test_faults').
  resumed = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, JAX_PLATFORMS='cpu'),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  try:
    for text in resumed.stdout:
      if 'resumed from the checkpoint at step' in text:
        assert int(text.split('at step ')[1].split()[0]) >= step
        break
      assert 'starting from step 0' not in text, text
    else:
      pytest.fail('the second start did not say it resumed')
  finally:
    resumed.kill()
    resumed.wait()
