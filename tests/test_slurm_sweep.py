"""`launch.sh slurm` against a real SLURM (tests/slurm/cluster.sh): a small
study goes in as one array job and every run finishes."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def venv_for_launch_sh(tmp_path):
  """A VENV that launch.sh accepts without installing anything: its python
  runs this interpreter (a CI .venv or a local one alike), and its stamp
  matches requirements.txt."""
  venv = tmp_path / 'venv'
  (venv / 'bin').mkdir(parents=True)
  python = venv / 'bin' / 'python'
  python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
  python.chmod(0o755)
  with open(os.path.join(ROOT, 'requirements.txt'), 'rb') as f:
    (venv / '.requirements.sha256').write_text(hashlib.sha256(f.read()).hexdigest() + '\n')
  return str(venv)


@pytest.fixture
def slurm(request):
  if shutil.which('slurmctld') is None and shutil.which('apt-get') is None:
    pytest.skip('SLURM is not installed and apt-get is unavailable to install it')
  return request.getfixturevalue('slurm_cluster')


def _wait_for(job_id: str, timeout: float = 400) -> None:
  deadline = time.time() + timeout
  while time.time() < deadline:
    queued = subprocess.run(['squeue', '-h', '-j', job_id, '-o', '%i %T'],
                            capture_output=True, text=True).stdout.strip()
    if not queued:
      return
    time.sleep(2)
  subprocess.run(['scancel', job_id])
  pytest.fail(f'array job {job_id} still queued/running after {timeout} s: {queued}')


def test_launch_sh_submits_a_study_as_an_array_job(slurm, data_dir, tmp_path,
                                                   venv_for_launch_sh):
  sweep = tmp_path / 'small.py'
  sweep.write_text(f'''from lib import sweeps

def get_sweep():
  return sweeps.Sweep(
      config='configs/mlp.py:digits',
      fixed={{'data.data_dir': {data_dir!r}, 'train.num_epochs': 0.0,
             'train.num_steps': 20, 'train.log_every_steps': 10, 'model.width': 32}},
      axes=sweeps.product({{'model.activation': ['relu', 'tanh']}}, sweeps.seeds(2)))
''')
  study = tmp_path / 'my study'  # sbatch splits unquoted #SBATCH values at spaces.
  env = dict(os.environ, VENV=venv_for_launch_sh, JAX_PLATFORMS='cpu')
  submit = subprocess.run(
      [os.path.join(ROOT, 'launch.sh'), 'slurm', f'--sweep={sweep}',
       f'--study_dir={study}', '--cpus=1', '--time=00:10:00', '--mem=2G'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert submit.returncode == 0, submit.stderr[-3000:]
  job_id = submit.stdout.strip().splitlines()[-1]
  assert job_id.isdigit(), submit.stdout
  script = (study / 'sbatch.sh').read_text()
  assert '#SBATCH --array=0-1' in script and '#SBATCH --mem=2G' in script

  _wait_for(job_id)
  logs = sorted(os.listdir(study / 'slurm'))
  assert logs == [f'{job_id}_0.out', f'{job_id}_1.out'], logs
  plan = json.loads((study / 'sweep.json').read_text())
  for run in plan['runs']:
    results = study / run['name'] / 'results.json'
    assert results.exists(), (run['name'], [(study / 'slurm' / l).read_text()[-2000:]
                                            for l in logs])
    assert json.loads(results.read_text())['steps'] == 20


def test_launch_sh_submits_a_multi_process_run(slurm, data_dir, tmp_path,
                                               venv_for_launch_sh):
  workdir = tmp_path / 'my run'
  env = dict(os.environ, VENV=venv_for_launch_sh, JAX_PLATFORMS='cpu')
  submit = subprocess.run(
      [os.path.join(ROOT, 'launch.sh'), 'slurm', '--config=configs/cnn.py:digits',
       f'--workdir={workdir}', f'--config.data.data_dir={data_dir}',
       '--config.data.pipeline=grain', '--config.train.num_epochs=0',
       '--config.train.num_steps=8', '--config.train.batch_size=64',
       '--nodes=1', '--ntasks_per_node=2', '--time=00:10:00'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert submit.returncode == 0, submit.stderr[-3000:]
  job_id = submit.stdout.strip().splitlines()[-1]
  script = (workdir / 'sbatch.sh').read_text()
  assert '#SBATCH --nodes=1' in script and '#SBATCH --ntasks-per-node=2' in script
  assert '--nodes' not in script.splitlines()[-1]  # SLURM flags stay out of srun.
  _wait_for(job_id)
  log = (workdir / f'slurm-{job_id}.out').read_text()
  results = workdir / 'results.json'
  assert results.exists(), log[-3000:]
  assert json.loads(results.read_text())['processes'] == 2


def test_launch_sh_slurm_refuses_a_bad_config_before_writing(slurm, tmp_path,
                                                             venv_for_launch_sh):
  workdir = tmp_path / 'my run'
  env = dict(os.environ, VENV=venv_for_launch_sh, JAX_PLATFORMS='cpu')
  submit = subprocess.run(
      [os.path.join(ROOT, 'launch.sh'), 'slurm', '--config=configs/cnn.py:digits',
       f'--workdir={workdir}', '--config.model.activation=swish2', '--nodes=2'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert submit.returncode != 0
  assert "unknown activation 'swish2'" in submit.stderr
  assert not workdir.exists()


def test_a_tuned_study_runs_as_an_array_job_one_element_per_arm(
    slurm, data_dir, tmp_path, venv_for_launch_sh):
  from configs import mlp  # pylint: disable=g-import-not-at-top
  from lib.report import runs as runs_lib, tuning  # pylint: disable=g-import-not-at-top
  rate = mlp.get_config('digits').optimizer.learning_rate
  sweep = tmp_path / 'tuned.py'
  sweep.write_text(f'''from lib import sweeps

def get_sweep():
  return sweeps.Sweep(
      config='configs/mlp.py:digits',
      fixed={{'data.data_dir': {data_dir!r}, 'train.num_epochs': 0.0,
             'train.num_steps': 20, 'train.log_every_steps': 10, 'model.width': 32}},
      axes=sweeps.product({{'model.activation': ['relu', 'tanh']}}, sweeps.seeds(2)),
      tune=sweeps.axis('optimizer.learning_rate', [{rate!r}, {2 * rate!r}]))
''')
  study = tmp_path / 'tuned study'
  env = dict(os.environ, VENV=venv_for_launch_sh, JAX_PLATFORMS='cpu')
  submit = subprocess.run(
      [os.path.join(ROOT, 'launch.sh'), 'slurm', f'--sweep={sweep}',
       f'--study_dir={study}', '--cpus=1', '--time=00:10:00', '--mem=2G'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert submit.returncode == 0, submit.stderr[-3000:]
  job_id = submit.stdout.strip().splitlines()[-1]
  assert '#SBATCH --array=0-1' in (study / 'sbatch.sh').read_text()
  _wait_for(job_id)
  loaded = runs_lib.load(str(study))
  assert len(loaded.runs) == 8 and all(r.status == 'finished' for r in loaded.runs), \
      [(study / 'slurm' / l).read_text()[-2000:] for l in os.listdir(study / 'slurm')]
  choices = tuning.choose(loaded, loaded.tuned_fields)
  assert all(c.value is not None for c in choices.values())
