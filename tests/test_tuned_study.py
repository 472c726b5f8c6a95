"""Studies with a tuned axis: every arm at every value, the value chosen on
validation data only, one compiled program for an arm's learning rates
(exactly the separate runs), and a killed study that resumes."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from configs import logreg
from lib import errors, metrics_writer, multi_seed, sweeps, trainer
from lib.report import document, runs as runs_lib, tuning
from lib.sweeps import layout, runner
from lib.sweeps import study as study_lib
from tests.conftest import ROOT

RATES = [0.0, 1e-4, 0.5]  # 0.5 is configs/logreg.py:digits' own (the shared) rate.


def _sweep_file(tmp_path, data_dir, rates=RATES, extra_fixed='', tune=True):
  path = tmp_path / 'tuned.py'
  tune_arg = f"tune=sweeps.axis('optimizer.learning_rate', {rates!r})," if tune else ''
  path.write_text(f'''from lib import sweeps

def get_sweep():
  return sweeps.Sweep(
      config='configs/logreg.py:digits',
      fixed={{'data.data_dir': {data_dir!r}, 'train.num_epochs': 3.0,
             'train.log_every_steps': 10, {extra_fixed}}},
      axes=sweeps.product({{'optimizer.name': ['gd', 'momentum']}}, sweeps.seeds(2)),
      {tune_arg})
''')
  return str(path)


def _run_study(sweep_path, study_dir):
  study = sweeps.load(sweep_path)
  runner.validate(study.tasks, study_dir)
  study_lib.write_plan(study, study_dir)
  return study, runner.run_tasks(study.tasks, study_dir, seeds_per_program=1)


def _set_results(study_dir, name, **values):
  path = os.path.join(layout.run_dir(study_dir, name), 'results.json')
  with open(path) as f:
    results = json.load(f)
  results.update(values)
  with open(path, 'w') as f:
    json.dump(results, f)


def test_the_known_best_rate_is_chosen_on_validation_and_never_on_test(
    data_dir, tmp_path):
  study_dir = str(tmp_path / 'study')
  study, outcome = _run_study(_sweep_file(tmp_path, data_dir), study_dir)
  assert len(study.tasks) == 2 and len(outcome.finished) == 12  # 2 arms x 3 x 2.
  loaded = runs_lib.load(study_dir)
  assert loaded.tuned_fields == ['optimizer.learning_rate']
  assert loaded.shared == {'optimizer.learning_rate': 0.5}
  choices = tuning.choose(loaded, loaded.tuned_fields)
  # A rate of 0 cannot learn and 1e-4 barely moves in 3 epochs: 0.5 wins.
  for arm in ('name=gd', 'name=momentum'):
    assert choices[arm].value == {'optimizer.learning_rate': 0.5}, choices[arm]
    assert choices[arm].margin > 0.3

  # Make the test split favour rate 0 everywhere: nothing changes.
  for r in loaded.runs:
    rate = r.overrides['optimizer.learning_rate']
    _set_results(study_dir, r.name, test_accuracy=1.0 if rate == 0.0 else 0.0)
  again = tuning.choose(runs_lib.load(study_dir), loaded.tuned_fields)
  assert {a: c.value for a, c in again.items()} == {a: c.value for a, c in choices.items()}
  # Make validation favour 1e-4 in one arm: the choice follows validation.
  for r in loaded.runs:
    if r.arm == 'name=gd':
      rate = r.overrides['optimizer.learning_rate']
      _set_results(study_dir, r.name, validation_accuracy=0.99 if rate == 1e-4 else 0.5)
  moved = tuning.choose(runs_lib.load(study_dir), loaded.tuned_fields)
  assert moved['name=gd'].value == {'optimizer.learning_rate': 1e-4}
  assert moved['name=momentum'].value == {'optimizer.learning_rate': 0.5}

  out = document.build(study_dir, with_baselines='no')
  md = out['markdown']
  assert '## Tuned per arm: optimizer.learning_rate' in md
  assert '| shared | name | gd − momentum | 2 |' in md
  assert '| tuned | name | gd − momentum | 2 |' in md
  assert 'p (Holm)' in md and 'detectable (pp)' in md
  with open(os.path.join(study_dir, 'tuning.json')) as f:
    saved = json.load(f)
  assert saved['arms']['name=gd']['chosen'] == {'optimizer.learning_rate': 1e-4}
  assert os.path.exists(os.path.join(study_dir, 'plots', 'tuning_curves.png'))


def test_an_arm_with_a_failed_or_missing_run_is_not_misjudged(data_dir, tmp_path):
  study_dir = str(tmp_path / 'study')
  _run_study(_sweep_file(tmp_path, data_dir), study_dir)
  # A failed seed at the best rate takes that rate out of the running.
  name = 'learning_rate=0.5,name=gd/seed=1'
  os.remove(os.path.join(layout.run_dir(study_dir, name), 'results.json'))
  layout.record_failure(study_dir, name, 'Diverged: loss nan', '')
  choices = tuning.choose(runs_lib.load(study_dir), ['optimizer.learning_rate'])
  assert choices['name=gd'].value == {'optimizer.learning_rate': 1e-4}
  # A run not finished yet: no choice for that arm.
  layout.clear_failure(study_dir, name)
  choices = tuning.choose(runs_lib.load(study_dir), ['optimizer.learning_rate'])
  assert choices['name=gd'].value is None and 'not finished' in choices['name=gd'].why_not


@pytest.mark.parametrize('kwargs, words', [
    (dict(extra_fixed="'data.validation_fraction': 0.0"), 'chooses on validation'),
    (dict(rates=[0.1, 0.2]), "must include the base config's"),
    (dict(rates=[0.5, 'fast']), 'wrong type'),
])
def test_tuned_sweep_mistakes_are_refused_before_anything_runs(
    data_dir, tmp_path, kwargs, words):
  with pytest.raises(errors.UserError) as e:
    sweeps.load(_sweep_file(tmp_path, data_dir, **kwargs))
  assert words in str(e.value)
  assert not os.path.exists(tmp_path / 'study')


def _logreg(data_dir, rate, seed=0):
  config = logreg.get_config('digits')
  config.data.data_dir = data_dir
  config.train.num_epochs = 2.0
  config.optimizer.learning_rate = rate
  config.seed = seed
  return config


def test_one_program_for_every_rate_is_bitwise_the_separate_runs(
    data_dir, tmp_path, monkeypatch):
  """The learning rate is a value in the state, not a constant of the
  program: the arm's shared program must give exactly what a fresh program
  built for each rate gives."""
  rates = [0.05, 0.5, 2.0]
  built = []
  real_init = trainer.Program.__init__

  def counting_init(self, *args, **kwargs):
    built.append(1)
    real_init(self, *args, **kwargs)
  monkeypatch.setattr(trainer.Program, '__init__', counting_init)
  multi_seed._last.clear()  # pylint: disable=protected-access
  shared = multi_seed.train_and_evaluate(
      [_logreg(data_dir, r) for r in rates],
      [str(tmp_path / f'shared_{r}') for r in rates], str(tmp_path / 'g'), 1)
  assert len(built) == 1
  for r, result in zip(rates, shared):
    multi_seed._last.clear()  # pylint: disable=protected-access
    alone = trainer.train_and_evaluate(_logreg(data_dir, r), str(tmp_path / f'alone_{r}'))
    assert result['learning_rate'] == r
    for key in ('validation_loss', 'test_loss', 'test_accuracy'):
      assert result[key] == alone[key], (r, key)
    curve = lambda d: [m['loss'] for m in metrics_writer.read(str(d)) if m['split'] == 'train']
    assert curve(tmp_path / f'shared_{r}') == curve(tmp_path / f'alone_{r}')
  assert len({res['test_loss'] for res in shared}) == 3  # The rates did differ.


def test_stacked_rates_match_one_after_another(data_dir, tmp_path):
  """On accelerators an arm's seeds are vmapped; rates may differ among them."""
  configs = [_logreg(data_dir, 0.5, seed=0), _logreg(data_dir, 2.0, seed=0)]
  multi_seed._last.clear()  # pylint: disable=protected-access
  stacked = multi_seed.train_and_evaluate(
      configs, [str(tmp_path / 's0'), str(tmp_path / 's1')], str(tmp_path / 'g'), 0)
  multi_seed._last.clear()  # pylint: disable=protected-access
  alone = multi_seed.train_and_evaluate(
      configs, [str(tmp_path / 'a0'), str(tmp_path / 'a1')], str(tmp_path / 'h'), 1)
  for s, a in zip(stacked, alone):
    np.testing.assert_allclose(s['test_loss'], a['test_loss'], rtol=1e-5)
  assert os.path.isdir(tmp_path / 'g' / 'checkpoints' / 'seed=0,0,lr=0.5,2')


@pytest.mark.slow  # Two real study processes, one killed.
def test_a_killed_tuned_study_resumes_without_losing_or_repeating_runs(data_dir, tmp_path):
  sweep = _sweep_file(tmp_path, data_dir)
  study_dir = str(tmp_path / 'study')
  command = [sys.executable, '-m', 'experiments.sweep', f'--sweep={sweep}',
             f'--study_dir={study_dir}']
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu'}
  proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, start_new_session=True)
  finished = lambda: [r for r in runs_lib.load(study_dir).runs if r.status == 'finished'] \
      if os.path.exists(os.path.join(study_dir, layout.PLAN_FILE)) else []
  deadline = time.time() + 240
  while len(finished()) < 4 and time.time() < deadline and proc.poll() is None:
    time.sleep(0.2)
  os.killpg(proc.pid, signal.SIGKILL)
  proc.wait()
  before = {r.name: os.stat(os.path.join(layout.run_dir(study_dir, r.name),
                                         'results.json')).st_mtime_ns
            for r in finished()}
  assert 4 <= len(before) < 12, len(before)

  again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
  assert again.returncode == 0, again.stderr[-2000:]
  assert f'{12 - len(before)} finished, {len(before)} already finished (skipped)' \
      in again.stderr + again.stdout
  study = runs_lib.load(study_dir)
  assert all(r.status == 'finished' for r in study.runs)
  for name, mtime in before.items():  # Not trained again.
    assert os.stat(os.path.join(layout.run_dir(study_dir, name),
                                'results.json')).st_mtime_ns == mtime


def test_a_checkpoint_saved_before_the_rate_moved_into_the_state_is_refused(
    data_dir, tmp_path):
  """Runs checkpointed by earlier code hold the optimizer's own state alone
  (no learning rate in it): one line names the last commit that resumes
  them, and nothing is moved."""
  import shutil  # pylint: disable=g-import-not-at-top
  from lib import checkpoint_integrity, checkpointing, config_history  # pylint: disable=g-import-not-at-top
  config = _logreg(data_dir, 0.5)
  config.train.checkpoint_every_steps = 11
  config.train.keep_checkpoints = 100
  trainer.train_and_evaluate(config, str(tmp_path / 'unbroken'))

  run = trainer.Run(config)
  with checkpointing.Checkpointer(str(tmp_path / 'unbroken' / 'checkpoints'), 5) as ckpt:
    state = ckpt.restore(11, run.init_state(), None)
  old = tmp_path / 'old'
  old.mkdir()
  shutil.copy(tmp_path / 'unbroken' / config_history.CONFIG_FILE, old)
  with checkpointing.Checkpointer(str(old / 'checkpoints'), 5) as legacy:
    legacy.save(11, state.replace(opt_state=state.opt_state.inner_state), None)

  with pytest.raises(errors.UserError) as refused:
    trainer.train_and_evaluate(config, str(old))
  assert len(str(refused.value).splitlines()) == 1
  assert f'commit {checkpoint_integrity.LAST_COMMIT_FOR_OLDER} is the last' in str(refused.value)
  assert os.listdir(old / 'checkpoints') == ['11']  # Nothing moved.


def test_a_resume_with_a_changed_rate_trains_at_the_new_one(data_dir, tmp_path):
  """The rate is in the saved optimizer state; --allow_config_change to
  another rate must train on at that rate, not the saved one."""
  from lib import checkpointing  # pylint: disable=g-import-not-at-top
  first = _logreg(data_dir, 0.05)
  first.train.num_epochs = 1.0
  workdir = str(tmp_path / 'run')
  trainer.train_and_evaluate(first, workdir)
  second = _logreg(data_dir, 0.5)
  second.train.num_epochs = 2.0
  trainer.train_and_evaluate(second, workdir, allow_config_change=True)
  saved = checkpointing.load_state(os.path.join(workdir, 'checkpoints'))
  rate = saved['opt_state']['hyperparams']['learning_rate']
  assert float(np.asarray(rate)) == pytest.approx(0.5)
