"""Running studies: skip finished runs, resume interrupted ones, record
failures and go on; the CLI's listing, task selection and one-line errors."""
import json
import os
import shutil

import pytest

from lib import errors, metrics_writer, multi_seed, sweeps
from lib.sweeps import layout, runner, slurm
from lib.sweeps import study as study_lib
from tests.conftest import run_module


def _sweep_file(tmp_path, data_dir, axes="{'model.activation': ['relu', 'tanh']}",
                seeds=2):
  path = tmp_path / 'tiny.py'
  path.write_text(f'''from lib import sweeps

def get_sweep():
  return sweeps.Sweep(
      config='configs/mlp.py:digits',
      fixed={{'data.data_dir': {data_dir!r}, 'train.num_epochs': 0.0,
             'train.num_steps': 20, 'train.log_every_steps': 5,
             'train.checkpoint_every_steps': 10, 'model.width': 32}},
      axes=sweeps.product({axes}, sweeps.seeds({seeds})))
''')
  return str(path)


def _run(sweep_path, study_dir, vmap=True):
  study = sweeps.load(sweep_path, vmap)
  runner.validate(study.tasks, study_dir)
  study_lib.write_plan(study, study_dir)
  return study, runner.run_tasks(study.tasks, study_dir, seeds_per_program=0)


def test_failure_is_recorded_and_the_rest_go_on_then_skip_and_retry(
    data_dir, tmp_path, monkeypatch, capsys):
  sweep, study_dir = _sweep_file(tmp_path, data_dir), str(tmp_path / 'study')
  real = multi_seed.train_and_evaluate

  def broken_for_tanh(configs, *args, **kwargs):
    if configs[0].model.activation == 'tanh':
      raise RuntimeError('simulated crash\nwith a second line')
    return real(configs, *args, **kwargs)

  monkeypatch.setattr(multi_seed, 'train_and_evaluate', broken_for_tanh)
  study, outcome = _run(sweep, study_dir)
  assert sorted(outcome.finished) == ['activation=relu/seed=0', 'activation=relu/seed=1']
  assert sorted(outcome.failed) == ['activation=tanh/seed=0', 'activation=tanh/seed=1']
  assert layout.failure(study_dir, 'activation=tanh/seed=1') == \
      'RuntimeError: simulated crash'
  for name in outcome.finished:
    files = set(os.listdir(layout.run_dir(study_dir, name)))
    assert {'config.json', 'metrics.jsonl', 'results.json'} <= files

  monkeypatch.setattr(multi_seed, 'train_and_evaluate', real)
  capsys.readouterr()
  _, outcome = _run(sweep, study_dir)  # Finished runs skipped, failed retried.
  assert sorted(outcome.skipped) == ['activation=relu/seed=0', 'activation=relu/seed=1']
  assert sorted(outcome.finished) == ['activation=tanh/seed=0', 'activation=tanh/seed=1']
  assert not outcome.failed
  assert layout.failure(study_dir, 'activation=tanh/seed=0') is None


def test_interrupted_run_resumes_from_its_checkpoint(data_dir, tmp_path, capsys):
  sweep = _sweep_file(tmp_path, data_dir, "{'model.activation': ['tanh']}", seeds=1)
  study_dir = str(tmp_path / 'study')
  _, first = _run(sweep, study_dir, vmap=False)  # lib/trainer.py runs it.
  name = 'activation=tanh/seed=0'
  assert first.finished == [name]
  metrics = metrics_writer.read(layout.run_dir(study_dir, name))
  assert metrics[-1]['split'] == 'test' and metrics[-1]['step'] == 20
  with open(os.path.join(layout.run_dir(study_dir, name), 'results.json')) as f:
    assert 0 < json.load(f)['train_inference_accuracy'] <= 1
  run = layout.run_dir(study_dir, name)
  # As if killed after the step-10 checkpoint.
  shutil.rmtree(os.path.join(run, 'checkpoints', '20'))
  os.remove(os.path.join(run, 'results.json'))
  capsys.readouterr()
  _, again = _run(sweep, study_dir, vmap=False)
  assert again.finished == [name]
  assert 'resumed from the checkpoint at step 10' in capsys.readouterr().out


def test_bad_value_is_refused_before_any_run(data_dir, tmp_path):
  sweep = _sweep_file(tmp_path, data_dir, "{'model.activation': ['relu', 'relux']}")
  study_dir = str(tmp_path / 'study')
  with pytest.raises(errors.UserError, match="run 'activation=relux/seed=0': unknown activation 'relux'"):
    _run(sweep, study_dir)
  assert not os.path.exists(study_dir)


def test_plan_pins_array_tasks(data_dir, tmp_path):
  study_dir = str(tmp_path / 'study')
  study = sweeps.load(_sweep_file(tmp_path, data_dir))
  study_lib.check_plan(study, study_dir)  # Writes it the first time.
  changed = sweeps.load(_sweep_file(tmp_path, data_dir, "{'model.activation': ['relu']}"))
  with pytest.raises(errors.UserError, match='no longer matches the plan'):
    study_lib.check_plan(changed, study_dir)


def test_sbatch_script(tmp_path):
  text = slurm.script(study_dir=str(tmp_path / 's'), sweep_path='/abs/grid.py',
                      num_tasks=18, python='/venv/bin/python', workdir='/repo',
                      job_name='grid', resources=slurm.Resources(
                          partition='gpu', time='01:30:00', cpus=4, gpus=1, mem='8G'))
  for line in ('#SBATCH --array=0-17', '#SBATCH --partition=gpu',
               '#SBATCH --time=01:30:00', '#SBATCH --cpus-per-task=4',
               '#SBATCH --gpus=1', '#SBATCH --mem=8G', 'cd /repo',
               '#SBATCH --signal=TERM@120',  # As a single run's script.
               f'srun --kill-on-bad-exit=1 '
               f'/venv/bin/python -m experiments.sweep --sweep=/abs/grid.py '
               f'--study_dir={tmp_path}/s --task_index="$SLURM_ARRAY_TASK_ID"'):
    assert line in text.splitlines()
  # All array tasks share one compilation cache in the study (unless set).
  assert (f'[ -n "${{JAXVISION_COMPILATION_CACHE:-}}" ] || export '
          f'JAXVISION_COMPILATION_CACHE={tmp_path}/s/xla_cache') in text.splitlines()
  with pytest.raises(errors.UserError, match='--time'):
    slurm.script(study_dir='s', sweep_path='x', num_tasks=1, python='p', workdir='w',
                 job_name='j', resources=slurm.Resources(time='90 minutes'))


def test_cli_lists_tasks_and_refuses_bad_input(data_dir, tmp_path):
  sweep = _sweep_file(tmp_path, data_dir)
  listing = run_module('experiments.sweep', f'--sweep={sweep}',
                       f'--study_dir={tmp_path}/s', '--list')
  assert listing.returncode == 0, listing.stderr
  assert listing.stdout.splitlines() == [
      '0\tactivation=relu/seed=0,1\t2 run(s): 0 finished, 0 failed',
      '1\tactivation=tanh/seed=0,1\t2 run(s): 0 finished, 0 failed']
  bad = run_module('experiments.sweep', f'--sweep={sweep}',
                   f'--study_dir={tmp_path}/s', '--task_index=7')
  assert bad.returncode == 2
  assert bad.stderr.strip().splitlines() == [
      'error: --task_index=7 is out of range: the study has tasks 0..1']
