"""Declaring studies: expansion, run names, and refusing bad sweeps early."""
import os

import pytest

from lib import errors, sweeps
from lib.sweeps import naming, plan, spec
from tests.conftest import ROOT


def _sweep_file(tmp_path, body: str, name='study.py') -> str:
  path = tmp_path / name
  path.write_text('from lib import sweeps\n\ndef get_sweep():\n  return ' + body + '\n')
  return str(path)


def _study(tmp_path, axes: str, config='configs/mlp.py:digits', fixed='{}'):
  return sweeps.load(_sweep_file(
      tmp_path, f"sweeps.Sweep(config={config!r}, axes={axes}, fixed={fixed})"))


def test_product_and_zip_points():
  axes = sweeps.product({'model.activation': ['tanh', 'relu']},
                        sweeps.zip({'model.dropout': [0.0, 0.5]},
                                   {'train.batch_size': [32, 64]}),
                        sweeps.seeds(2))
  assert len(axes) == 2 * 2 * 2
  assert axes.fields == ('model.activation', 'model.dropout', 'train.batch_size', 'seed')
  assert axes.points[0] == {'model.activation': 'tanh', 'model.dropout': 0.0,
                            'train.batch_size': 32, 'seed': 0}
  assert axes.points[-1] == {'model.activation': 'relu', 'model.dropout': 0.5,
                             'train.batch_size': 64, 'seed': 1}


def test_grid_expands_to_90_runs_in_18_vmapped_tasks():
  study = sweeps.load(os.path.join(ROOT, 'configs/sweeps/ablation.py:digits,grid'))
  assert len(study.runs) == 90 and len(study.tasks) == 18
  assert all(t.vmapped and len(t.runs) == 5 for t in study.tasks)
  names = [r.name for r in study.runs]
  assert len(set(names)) == 90
  assert 'activation=relu,dropout=0.25,pooling=max/seed=3' in names
  run = next(r for r in study.runs if r.name == names[0])
  assert run.config.model.activation == 'sigmoid' and run.config.seed == 0
  assert run.config.model.features == (16, 32)  # The study's fixed settings.
  with pytest.raises(AttributeError):  # Resolved configs stay locked.
    run.config.model.nonexistent = 1


def _shipped_studies():
  """(README's name, the --sweep reference) of every shipped study: each file
  of configs/sweeps, and ablation.py's datasets x factors x (tuned or not)."""
  from configs.sweeps import ablation  # pylint: disable=g-import-not-at-top
  for name in sorted(os.listdir(os.path.join(ROOT, 'configs/sweeps'))):
    if not name.endswith('.py') or name[0] == '_' or name in ('common.py', 'ablation.py'):
      continue
    yield name, name
  for factor in ablation.FACTORS:
    for tuned in ('', ',tuned'):
      for dataset in ablation.DATASETS:
        yield f'ablation.py:DATASET,{factor}{tuned}', f'ablation.py:{dataset},{factor}{tuned}'


@pytest.mark.parametrize('name, ref', list(_shipped_studies()),
                         ids=[ref for _, ref in _shipped_studies()])
def test_every_shipped_study_expands_and_readme_lists_its_size(name, ref):
  study = sweeps.load(os.path.join(ROOT, 'configs/sweeps', ref))
  assert study.runs and study.tasks
  with open(os.path.join(ROOT, 'README.md')) as f:
    rows = [line for line in f if line.startswith(f'| `{name}` |')]
  assert rows, f'README.md: the table of shipped studies has no row for {name}'
  assert rows[0].startswith(f'| `{name}` | {len(study.runs)} ({len(study.tasks)}) |'), (
      f'README.md: {ref} has {len(study.runs)} runs in {len(study.tasks)} tasks')


def test_the_ablation_file_refuses_what_it_does_not_ship():
  for ref in ('ablation.py', 'ablation.py:digits', 'ablation.py:digitz,grid',
              'ablation.py:digits,grid,runlocal'):
    with pytest.raises(errors.UserError, match='give DATASET,FACTOR') as e:
      sweeps.load(os.path.join(ROOT, 'configs/sweeps', ref))
    assert '\n' not in str(e.value) and '--seeds=N' in str(e.value)


def test_names_are_stable_sorted_and_filesystem_safe(tmp_path):
  a = _study(tmp_path, "sweeps.product({'model.dropout': [0.25], 'model.activation': ['relu']}, sweeps.seeds(1))")
  b = _study(tmp_path, "sweeps.product({'model.activation': ['relu'], 'model.dropout': [0.25]}, sweeps.seeds(1))")
  assert [r.name for r in a.runs] == [r.name for r in b.runs] == ['activation=relu,dropout=0.25/seed=0']
  assert naming.format_value((16, 32)) == '16-32'
  assert naming.format_value('a b/c') == 'a_b_c'
  assert naming.short_keys(['model.dropout', 'data.dropout']) == {
      'model.dropout': 'model.dropout', 'data.dropout': 'data.dropout'}


def test_seed_only_study_and_unswept_model_setting(tmp_path):
  study = _study(tmp_path, "sweeps.product({'model.pool_size': [2]}, sweeps.seeds(2))",
                 config='configs/cnn.py:digits')
  assert [r.name for r in study.runs] == ['pool_size=2/seed=0', 'pool_size=2/seed=1']
  assert study.runs[0].config.model.pool_size == 2  # CNN setting the config omits.
  only_seeds = _study(tmp_path, 'sweeps.seeds(3)')
  assert [r.name for r in only_seeds.runs] == [f'base/seed={i}' for i in range(3)]


def test_grain_pipeline_runs_are_one_task_each(tmp_path):
  study = _study(tmp_path, 'sweeps.seeds(3)', fixed="{'data.pipeline': 'grain'}")
  assert len(study.tasks) == 3 and not any(t.vmapped for t in study.tasks)


@pytest.mark.parametrize('axes, message', [
    ("sweeps.product({'model.activaton': ['relu']})",
     "sweep field 'model.activaton' does not exist in configs/mlp.py:digits; "
     "did you mean 'model.activation'?"),
    ("sweeps.product({'nosuch.field': [1]})", "sweep field 'nosuch.field' does not exist"),
    ("sweeps.product({'model.dropout': []})", "sweep axis 'model.dropout' is empty"),
    ("sweeps.seeds(0)", 'seeds(0): the number of seeds must be >= 1'),
    ("sweeps.product({'model.dropout': ['high']})",
     "sweep value 'high' for 'model.dropout' has the wrong type: str, expected float"),
    ("sweeps.product({'train.num_steps': [1.5]})",
     "sweep value 1.5 for 'train.num_steps' has the wrong type: float, expected int"),
    ("sweeps.product({'model.width': [True]})", 'has the wrong type: bool, expected int'),
    ("sweeps.product({'model.activation': 'relu'})", "needs a list of values, got 'relu'"),
    ("sweeps.product({'model': ['x']})", "'model' is a group of fields"),
    ("sweeps.zip({'model.dropout': [0.1, 0.2]}, {'model.width': [8]})",
     'zip() needs axes of equal length'),
    ("sweeps.product({'seed': [1]}, sweeps.seeds(2))", "field 'seed' is swept twice"),
])
def test_bad_sweeps_are_refused_with_one_line(tmp_path, axes, message):
  with pytest.raises(errors.UserError) as e:
    _study(tmp_path, axes)
  assert message in str(e.value) and '\n' not in str(e.value)


def test_bad_sweep_files(tmp_path):
  with pytest.raises(errors.UserError, match='does not exist'):
    sweeps.load(str(tmp_path / 'missing.py'))
  (tmp_path / 'no_fn.py').write_text('x = 1\n')
  with pytest.raises(errors.UserError, match='has no get_sweep'):
    sweeps.load(str(tmp_path / 'no_fn.py'))
  with pytest.raises(errors.UserError, match="base config .* does not exist"):
    _study(tmp_path, 'sweeps.seeds(1)', config='configs/nope.py')
  with pytest.raises(errors.UserError, match='both swept and fixed'):
    _study(tmp_path, "sweeps.product({'model.width': [8]})", fixed="{'model.width': 4}")


def test_config_paths_resolve_from_repo_root_and_take_args(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # Not the repo root.
  config = spec.load_config('configs/cnn.py:digits,runlocal', str(tmp_path / 's.py'))
  assert config.train.num_steps == 20
  assert plan.vmappable(config)
