"""experiments.seeds: one compiled train step for all seeds, each seed's
results bitwise those of its own `experiments.train` run, and each seed's
directory a run like any other (resumable, visualizable); and the
compilation cache seen from the entry points."""
import json
import os

import jax
import numpy as np
import pytest

from lib import checkpointing, metrics_writer
from tests.conftest import run_module

NO_CACHE = {'JAXVISION_COMPILATION_CACHE': 'off'}


def _args(data_dir):
  return ['--config=configs/cnn.py:digits', f'--config.data.data_dir={data_dir}',
          '--config.model.features=(8,16)', '--config.model.convs_per_block=1',
          '--config.model.dense=(32,)', '--config.train.num_epochs=0.0',
          '--config.train.num_steps=6', '--config.train.log_every_steps=2',
          '--config.train.checkpoint_every_steps=3']


def _results(workdir):
  with open(os.path.join(workdir, 'results.json')) as f:
    return json.load(f)


def _params(workdir):
  return checkpointing.load_state(os.path.join(workdir, 'checkpoints'))['params']


def test_seeds_compile_once_and_equal_separate_runs(data_dir, tmp_path):
  out = tmp_path / 'seeds'
  proc = run_module('experiments.seeds', *_args(data_dir), '--seeds=3',
                    f'--out={out}', env={**NO_CACHE, 'JAX_LOG_COMPILES': '1'})
  assert proc.returncode == 0, proc.stderr[-3000:]
  # The train step (lib/train_step.py's one_seed) is traced and compiled once
  # for the three seeds; so are init and eval.
  for name in ('one_seed', 'eval_step'):
    for event in (f'Finished tracing {name} ', f'Finished XLA compilation of jit({name}) '):
      assert proc.stderr.count(event) == 1, (event, proc.stderr[-3000:])
  summary = json.loads((out / 'summary.json').read_text())
  assert len(summary['accuracies']) == 3 and summary['diverged_seeds'] == []

  for seed in (0, 2):
    alone = tmp_path / f'train_{seed}'
    p = run_module('experiments.train', *_args(data_dir), f'--config.seed={seed}',
                   f'--workdir={alone}', env=NO_CACHE)
    assert p.returncode == 0, p.stderr[-3000:]
    mine, theirs = _results(out / f'seed_{seed}'), _results(alone)
    for key in ('seed', 'validation_accuracy', 'validation_loss', 'best_accuracy',
                'test_accuracy', 'test_loss', 'steps'):
      assert mine[key] == theirs[key], key  # Bitwise: the same program.
    losses = lambda d: [m['loss'] for m in metrics_writer.read(str(d))
                        if m['split'] == 'train']
    assert losses(out / f'seed_{seed}') == losses(alone)
    jax.tree.map(np.testing.assert_array_equal, _params(out / f'seed_{seed}'),
                 _params(alone))
    assert summary['accuracies'][seed] == 100 * theirs['test_accuracy']

  # Each seed's directory is an ordinary run: visualize reads its checkpoint.
  p = run_module('experiments.visualize', f'--workdir={out}/seed_1',
                 f'--data_dir={data_dir}', env=NO_CACHE)
  assert p.returncode == 0, p.stderr[-3000:]
  assert os.listdir(out / 'seed_1' / 'figures')

  # Started again: every seed is finished, nothing is trained or rewritten.
  before = (out / 'seed_0' / 'metrics.jsonl').read_text()
  p = run_module('experiments.seeds', *_args(data_dir), '--seeds=3', f'--out={out}',
                 env=NO_CACHE)
  assert p.returncode == 0 and 'already finished' in p.stderr + p.stdout
  assert (out / 'seed_0' / 'metrics.jsonl').read_text() == before


def test_a_second_run_loads_its_programs_from_the_cache(data_dir, tmp_path):
  env = {'JAXVISION_COMPILATION_CACHE': str(tmp_path / 'cache'),
         'JAX_LOG_COMPILES': '1'}
  runs = [run_module('experiments.train', *_args(data_dir),
                     f'--workdir={tmp_path / str(i)}', env=env) for i in range(2)]
  for p in runs:
    assert p.returncode == 0, p.stderr[-3000:]
    assert 'Error writing persistent compilation cache' not in p.stderr
  for name in ('jit_one_seed', 'jit_eval_step'):
    assert f"Persistent compilation cache hit for '{name}'" not in runs[0].stderr
    assert f"Persistent compilation cache hit for '{name}'" in runs[1].stderr, name
  assert _results(tmp_path / '0')['test_loss'] == _results(tmp_path / '1')['test_loss']


def test_bad_seeds_flag_is_one_line(tmp_path):
  p = run_module('experiments.seeds', '--config=configs/cnn.py:digits', '--seeds=0',
                 f'--out={tmp_path}', env=NO_CACHE)
  assert p.returncode == 2 and p.stderr.strip().startswith('error: --seeds=0')
  assert len(p.stderr.strip().splitlines()) == 1


@pytest.mark.slow  # Vmapped convolutions compile slowly on CPU (~20-60 s).
def test_vmapped_seeds_are_visualized_from_the_group_checkpoint(data_dir, tmp_path):
  out = tmp_path / 'seeds'
  p = run_module('experiments.seeds', *_args(data_dir), '--seeds=2',
                 '--seeds_per_program=0', f'--out={out}', env=NO_CACHE)
  assert p.returncode == 0, p.stderr[-3000:]
  assert os.path.isdir(out / 'checkpoints' / 'seed=0,1')
  assert not os.path.exists(out / 'seed_1' / 'checkpoints')
  from lib.visualize import workdir  # pylint: disable=g-import-not-at-top
  variables, step = workdir.load_variables(str(out / 'seed_1'))
  stacked = checkpointing.load_state(str(out / 'checkpoints' / 'seed=0,1'))['params']
  assert step == 6
  jax.tree.map(lambda one, both: np.testing.assert_array_equal(one, both[1]),
               variables['params'], stacked)
  p = run_module('experiments.visualize', f'--workdir={out}/seed_1',
                 f'--data_dir={data_dir}', env=NO_CACHE)
  assert p.returncode == 0, p.stderr[-3000:]
