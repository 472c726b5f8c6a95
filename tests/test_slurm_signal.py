"""`./launch.sh slurm` where SLURM is not installed (--help, --dry-run), and
on a real one (tests/slurm/cluster.sh): a study's array task gets SIGTERM
from its script's own `#SBATCH --signal=TERM@120` ahead of the time limit,
saves a checkpoint and stops; the same script, submitted again, resumes it
from that step to the end."""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from tests.conftest import ROOT
from tests.test_slurm_sweep import _wait_for, slurm, venv_for_launch_sh  # pylint: disable=unused-import

pytestmark = pytest.mark.slow
SLURM_COMMANDS = {'sbatch', 'srun', 'salloc', 'squeue', 'scancel', 'sinfo',
                  'scontrol', 'sacct', 'sattach', 'sstat'}


@pytest.fixture
def path_without_slurm(tmp_path) -> str:
  """PATH as it is, but each folder holding SLURM's commands replaced by
  one of links to everything else in it."""
  folders = []
  for i, folder in enumerate(os.environ['PATH'].split(os.pathsep)):
    if not os.path.isdir(folder) or not SLURM_COMMANDS & set(os.listdir(folder)):
      folders.append(folder)
      continue
    copy = tmp_path / f'path{i}'
    copy.mkdir()
    for name in set(os.listdir(folder)) - SLURM_COMMANDS:
      (copy / name).symlink_to(os.path.join(folder, name))
    folders.append(str(copy))
  path = os.pathsep.join(folders)
  assert shutil.which('sbatch', path=path) is None
  return path


def _launch(*args: str, env: dict) -> subprocess.CompletedProcess:
  return subprocess.run([os.path.join(ROOT, 'launch.sh'), 'slurm', *args],
                        cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=300)


def test_help_and_dry_run_need_no_slurm(data_dir, tmp_path, path_without_slurm,
                                        venv_for_launch_sh):
  # --help: before any environment is looked at (this VENV does not exist).
  env = dict(os.environ, PATH=path_without_slurm, VENV=str(tmp_path / 'none'))
  shown = _launch('--help', env=env)
  assert shown.returncode == 0 and shown.stderr == ''
  assert shown.stdout.startswith('usage: ./launch.sh slurm --sweep=FILE')
  assert '--dry-run' in shown.stdout and 'experiments.sweep --sbatch' in shown.stdout
  assert not (tmp_path / 'none').exists()

  env['VENV'] = venv_for_launch_sh
  refused = _launch('--config=configs/mlp.py:digits', f'--workdir={tmp_path}/r',
                    env=env)
  assert refused.returncode == 2
  assert refused.stderr.strip().splitlines() == [
      'error: sbatch not found: run this where SLURM is installed, or add '
      '--dry-run to write the script without submitting it (a test cluster: '
      'tests/slurm/cluster.sh up)']
  assert not (tmp_path / 'r').exists()

  sweep = tmp_path / 'small.py'
  sweep.write_text(f'''from lib import sweeps

def get_sweep():
  return sweeps.Sweep(
      config='configs/mlp.py:digits',
      fixed={{'data.data_dir': {data_dir!r}, 'train.num_epochs': 0.0,
             'train.num_steps': 20}},
      axes=sweeps.product({{'model.activation': ['relu', 'tanh']}}, sweeps.seeds(2)))
''')
  study = tmp_path / 'my study'
  written = _launch(f'--sweep={sweep}', f'--study_dir={study}', '--time=00:30:00',
                    '--dry-run', env=env)
  assert written.returncode == 0, written.stderr[-3000:]
  script = study / 'sbatch.sh'
  assert written.stdout == f'{script}\n'
  assert written.stderr.strip().splitlines()[-1] == (
      f'wrote {script} (--job-name="my study" --array=0-1 --cpus-per-task=1 '
      f'--output="{study}/slurm/%A_%a.out" --signal=TERM@120 --time=00:30:00); '
      f'not submitted (--dry-run); to submit it: sbatch {tmp_path}/my\\ study/sbatch.sh')
  assert os.access(script, os.X_OK)

  run = tmp_path / 'run'
  written = _launch('--config=configs/mlp.py:digits', f'--workdir={run}',
                    '--nodes=1', '--ntasks_per_node=2', '--dry-run', env=env)
  assert written.returncode == 0, written.stderr[-3000:]
  assert written.stdout == f'{run}/sbatch.sh\n'
  text = (run / 'sbatch.sh').read_text()
  # One header writer (lib/sweeps/slurm.py) for both kinds of job.
  assert '#SBATCH --signal=TERM@120' in text.splitlines()
  assert text.splitlines()[-1].startswith('srun --kill-on-bad-exit=1 ')
  assert not (run / 'metrics.jsonl').exists()  # Nothing trained.


def _log(study) -> str:
  return '\n'.join(p.read_text() for p in sorted((study / 'slurm').iterdir()))


def _state(job_id: str) -> str:
  shown = subprocess.run(['scontrol', 'show', 'job', job_id], capture_output=True,
                         text=True).stdout
  return re.search(r'JobState=(\S+)', shown).group(1)


def test_a_study_task_signalled_before_its_time_limit_saves_and_resumes(
    slurm, data_dir, tmp_path, venv_for_launch_sh):
  # Far more than any machine runs before SLURM's signal (100,000 took 100 s
  # on a loaded 2-core machine and 25 s on a quiet one, which then finished
  # unsignalled): the resumed job is cancelled once it says where it resumed.
  steps = 10_000_000
  sweep = tmp_path / 'long.py'
  sweep.write_text(f'''from lib import sweeps

def get_sweep():
  return sweeps.Sweep(
      config='configs/mlp.py:digits',
      fixed={{'data.data_dir': {data_dir!r}, 'train.num_epochs': 0.0,
             'train.num_steps': {steps}, 'train.log_every_steps': 1000,
             'train.eval_every_epochs': 200.0, 'model.width': 32}},
      axes=sweeps.seeds(1))
''')
  study = tmp_path / 'study'
  env = dict(os.environ, VENV=venv_for_launch_sh, JAX_PLATFORMS='cpu')
  # 3 minutes: the signal, 120 s before the limit, is due after 1 minute;
  # slurmctld sends it at a time-limit check (every 30 s) up to 30 s early,
  # so 30-60 s in: past start-up, mid-training.
  submit = _launch(f'--sweep={sweep}', f'--study_dir={study}', '--cpus=1',
                   '--time=00:03:00', env=env)
  assert submit.returncode == 0, submit.stderr[-3000:]
  first = submit.stdout.strip().splitlines()[-1]
  _wait_for(first, timeout=300)
  log = _log(study)
  saved = re.search(r'SIGTERM: saved a checkpoint at step (\d+) and stopped', log)
  assert saved, log[-3000:]
  assert 'sbatch.sh again with sbatch to go on' in log, log[-3000:]  # Not 'the same command'.
  assert _state(first) == 'COMPLETED', log[-3000:]  # Stopped, not killed.
  (run,) = json.loads((study / 'sweep.json').read_text())['runs']
  assert not (study / run['name'] / 'results.json').exists()
  at = int(saved.group(1))
  assert 0 < at < steps

  # The same script again: it resumes there (then it is cancelled).
  again = subprocess.run(['sbatch', '--parsable', '--time=00:10:00',
                          str(study / 'sbatch.sh')], capture_output=True, text=True)
  assert again.returncode == 0, again.stderr
  second = again.stdout.strip().split(';')[0]
  out = study / 'slurm' / f'{second}_0.out'
  deadline = time.monotonic() + 300
  try:
    while time.monotonic() < deadline and 'resumed from the checkpoint' not in (
        out.read_text() if out.exists() else ''):
      time.sleep(1)
  finally:
    subprocess.run(['scancel', second], capture_output=True)
  log = out.read_text() if out.exists() else ''
  assert f'resumed from the checkpoint at step {at}' in log, log[-3000:]
  assert 'starting from step 0' not in log, log[-3000:]
