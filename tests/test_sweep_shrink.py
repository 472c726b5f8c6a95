"""A quick version of any study: --seeds=N and --set=FIELD=VALUE, recorded in
the plan and the report; a study directory resumed only with its own flags."""
import json
import os

import pytest

from lib import errors, sweeps
from lib.report import document
from lib.sweeps import layout, runner, shrink
from lib.sweeps import study as study_lib
from tests.conftest import ROOT, run_module

GRID = os.path.join(ROOT, 'configs/sweeps/ablation.py:digits,grid')


def test_parse_set_reads_literals_and_plain_strings():
  assert shrink.parse_set('train.num_epochs=2') == ('train.num_epochs', 2)
  assert shrink.parse_set('model.dropout=0.5') == ('model.dropout', 0.5)
  assert shrink.parse_set('model.activation=relu') == ('model.activation', 'relu')
  assert shrink.parse_set("model.activation='relu'") == ('model.activation', 'relu')
  assert shrink.parse_set('model.features=[8, 16]') == ('model.features', (8, 16))
  for bad in ('train.num_epochs', '=2', 'train.num_epochs='):
    with pytest.raises(errors.UserError, match='write --set=FIELD=VALUE'):
      shrink.parse_set(bad)
  with pytest.raises(errors.UserError, match="gives 'a.b' twice"):
    shrink.parse_sets(['a.b=1', 'a.b=2'])


def test_seeds_and_set_shrink_a_shipped_study():
  full = sweeps.load(GRID)
  quick = sweeps.load(GRID, seeds=2, sets={'train.num_epochs': 2})
  assert (len(full.runs), len(quick.runs), len(quick.tasks)) == (90, 36, 18)
  assert [r.seed for r in quick.runs[:4]] == [0, 1, 0, 1]
  assert {r.group for r in quick.runs} == {r.group for r in full.runs}
  assert all(r.config.train.num_epochs == 2.0 for r in quick.runs)
  assert full.runs[0].config.train.num_epochs == 30.0
  plan = quick.plan_dict()
  assert plan['command_line'] == {'seeds': 2, 'set': {'train.num_epochs': 2}}
  assert plan['fixed']['train.num_epochs'] == 2
  assert full.plan_dict()['command_line'] == {}
  # More seeds than declared, and a tuned study (its seeds x its rates).
  assert len(sweeps.load(GRID, seeds=7).runs) == 18 * 7
  tuned = sweeps.load(os.path.join(ROOT, 'configs/sweeps/ablation.py:digits,grid,tuned'), seeds=1)
  assert (len(tuned.runs), len(tuned.tasks)) == (18 * 5, 18)


@pytest.mark.parametrize('sets, message', [
    ({'model.activation': 'relu'},
     "'model.activation' is swept by this study \\(its values: 'sigmoid', 'tanh', 'relu'\\)"),
    ({'seed': 3}, 'use --seeds=N'),
    ({'train.num_epoch': 2}, "did you mean 'train.num_epochs'"),
    ({'train.num_epochs': 'two'}, 'has the wrong type'),
])
def test_bad_set_is_refused_in_one_line(sets, message):
  with pytest.raises(errors.UserError, match=message) as e:
    sweeps.load(GRID, sets=sets)
  assert '\n' not in str(e.value)


def test_a_study_resumes_only_with_the_flags_it_started_with(tmp_path):
  study_dir = str(tmp_path / 'study')
  quick = sweeps.load(GRID, seeds=2, sets={'train.num_epochs': 2})
  study_lib.write_plan(quick, study_dir)
  study_lib.write_plan(quick, study_dir)  # The same flags again: resumed.
  for other in (sweeps.load(GRID), sweeps.load(GRID, seeds=2),
                sweeps.load(GRID, seeds=2, sets={'train.num_epochs': 3})):
    with pytest.raises(errors.UserError, match=(
        r'was started with --seeds/--set --seeds=2 --set=train.num_epochs=2, not ')):
      study_lib.write_plan(other, study_dir)
    with pytest.raises(errors.UserError, match='give the same flags to resume it'):
      study_lib.check_plan(other, study_dir)  # An array element, too.
  assert layout.read_plan(study_dir)['command_line'] == {
      'seeds': 2, 'set': {'train.num_epochs': 2}}
  # A full study's directory refuses a shrunk one the same way.
  full_dir = str(tmp_path / 'full')
  study_lib.write_plan(sweeps.load(GRID), full_dir)
  with pytest.raises(errors.UserError, match='none \\(the study as declared\\), not --seeds=1'):
    study_lib.write_plan(sweeps.load(GRID, seeds=1), full_dir)


def _tiny_sweep(tmp_path, data_dir) -> str:
  path = tmp_path / 'tiny.py'
  path.write_text(f'''from lib import sweeps

def get_sweep():
  return sweeps.Sweep(
      config='configs/mlp.py:digits',
      fixed={{'data.data_dir': {data_dir!r}, 'train.num_epochs': 0.0,
             'train.num_steps': 40, 'train.log_every_steps': 5,
             'model.width': 32}},
      axes=sweeps.product({{'model.activation': ['relu', 'tanh']}}, sweeps.seeds(3)))
''')
  return str(path)


def test_a_quick_study_trains_shrunk_and_its_report_says_so(data_dir, tmp_path):
  sweep, study_dir = _tiny_sweep(tmp_path, data_dir), str(tmp_path / 'study')
  study = sweeps.load(sweep, seeds=1, sets={'train.num_steps': 10})
  runner.validate(study.tasks, study_dir)
  study_lib.write_plan(study, study_dir)
  outcome = runner.run_tasks(study.tasks, study_dir, seeds_per_program=0)
  assert sorted(outcome.finished) == ['activation=relu/seed=0', 'activation=tanh/seed=0']
  with open(os.path.join(layout.run_dir(study_dir, 'activation=relu/seed=0'),
                         'config.json')) as f:
    assert json.load(f)['train']['num_steps'] == 10
  md = document.build(study_dir, with_baselines='no')['markdown']
  assert md.startswith('# Study report: study (a quick version)\n\n'
                       '**A quick version, not the study as declared:** run with '
                       '`--seeds=1 --set=train.num_steps=10` on the command line')
  assert '2 runs planned: 2 finished' in md


def test_cli_flags_reach_the_plan_the_sbatch_script_and_refusals(data_dir, tmp_path):
  sweep, study_dir = _tiny_sweep(tmp_path, data_dir), str(tmp_path / 's')
  flags = ['--seeds=2', '--set=train.num_steps=10', '--set=model.width=16']
  made = run_module('experiments.sweep', f'--sweep={sweep}', f'--study_dir={study_dir}',
                    '--sbatch', *flags)
  assert made.returncode == 0, made.stderr
  with open(os.path.join(study_dir, 'sbatch.sh')) as f:
    command = [line for line in f if 'experiments.sweep' in line][0]
  assert ' '.join(flags) in command  # Every array element builds the quick study.
  assert layout.read_plan(study_dir)['command_line'] == {
      'seeds': 2, 'set': {'train.num_steps': 10, 'model.width': 16}}
  again = run_module('experiments.sweep', f'--sweep={sweep}', f'--study_dir={study_dir}',
                     '--list')
  assert again.returncode == 2
  assert again.stderr.strip().splitlines() == [
      f'error: {study_dir} was started with --seeds/--set --seeds=2 '
      '--set=train.num_steps=10 --set=model.width=16, not none (the study as '
      'declared); give the same flags to resume it, or use a new --study_dir']
  arg = run_module('experiments.sweep',
                   f"--sweep={os.path.join(ROOT, 'configs/sweeps/mnist5k_plain_vs_residual.py')}:runlocal",
                   f'--study_dir={tmp_path}/r', '--list')
  assert arg.returncode == 2
  assert len(arg.stderr.strip().splitlines()) == 1
  assert 'this sweep file takes no argument after ":"' in arg.stderr
  assert '--seeds=N and --set=FIELD=VALUE' in arg.stderr
