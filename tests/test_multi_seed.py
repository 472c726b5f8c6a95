"""Seeds trained jointly (vmapped) match the same seeds trained one by one."""
import json
import os
import shutil

import numpy as np
import jax
import pytest

from configs import cnn
from lib import checkpointing, errors, metrics_writer, multi_seed, trainer

SEEDS = (0, 3)


def _config(data_dir, seed):
  c = cnn.get_config('digits')
  c.seed = seed
  c.data.data_dir = data_dir
  c.model.features, c.model.convs_per_block, c.model.dense = (8, 16), 1, (32,)
  c.model.dropout = 0.5          # Dropout masks must follow each seed's key.
  c.data.random_shift = 1        # So must the augmentation.
  c.train.num_epochs, c.train.num_steps = 0.0, 6
  c.train.log_every_steps = 2
  c.train.checkpoint_every_steps = 3
  return c


def _train_losses(workdir):
  return [m['loss'] for m in metrics_writer.read(workdir) if m['split'] == 'train']


@pytest.fixture(scope='module')
def sequential(data_dir, tmp_path_factory):
  root = tmp_path_factory.mktemp('sequential')
  return {s: (trainer.train_and_evaluate(_config(data_dir, s), str(root / str(s))),
              str(root / str(s))) for s in SEEDS}


def _train_jointly(data_dir, root, seeds_per_program):
  dirs = [str(root / f'seed={s}') for s in SEEDS]
  results = multi_seed.train_and_evaluate([_config(data_dir, s) for s in SEEDS],
                                          dirs, str(root), seeds_per_program)
  return results, dirs


@pytest.fixture(scope='module')
def joint(data_dir, tmp_path_factory):
  root = tmp_path_factory.mktemp('joint')
  return (*_train_jointly(data_dir, root, 0), root)


def _check_matches_sequential(results, dirs, root, sequential):
  for i, s in enumerate(SEEDS):
    expected, seq_dir = sequential[s]
    assert set(expected) <= set(results[i])  # Same results.json keys (and more).
    np.testing.assert_allclose(results[i]['test_loss'], expected['test_loss'], rtol=1e-4)
    assert results[i]['test_accuracy'] == pytest.approx(expected['test_accuracy'], abs=1e-6)
    np.testing.assert_allclose(_train_losses(dirs[i]), _train_losses(seq_dir), rtol=1e-4)
    with open(os.path.join(dirs[i], 'results.json')) as f:
      assert json.load(f)['seed'] == s
    splits = [m['split'] for m in metrics_writer.read(dirs[i])]
    assert set(splits) == {'train', 'validation', 'test'}
    assert 0 < results[i]['train_inference_accuracy'] <= 1
  # The stacked (or per-chunk) checkpoints hold each seed's parameters.
  ckpt = os.path.join(str(root), 'checkpoints')
  chunks = sorted(os.listdir(ckpt))
  stacked = [checkpointing.load_state(os.path.join(ckpt, c))['params'] for c in chunks]
  together = jax.tree.map(lambda *x: np.concatenate(x), *stacked)
  for i, s in enumerate(SEEDS):
    single = checkpointing.load_state(os.path.join(sequential[s][1], 'checkpoints'))['params']
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, atol=2e-5), together, single)


def test_vmapped_seeds_match_sequential_runs(joint, sequential):
  _check_matches_sequential(*joint, sequential)


def test_one_seed_per_program_is_the_ordinary_run_bitwise(data_dir, tmp_path,
                                                         sequential):
  """The CPU default: one program (compiled once) serves every seed, and it
  is the ordinary run's, so each seed equals its own run exactly, with its
  checkpoints in its own workdir."""
  multi_seed._last.clear()
  results, dirs = _train_jointly(data_dir, tmp_path, 1)
  program = multi_seed._last[0][1]
  assert program.step._cache_size() == 1  # One compilation for both seeds.
  for i, s in enumerate(SEEDS):
    expected, seq_dir = sequential[s]
    for key in ('seed', 'test_accuracy', 'test_loss', 'best_accuracy'):
      assert results[i][key] == expected[key], key
    assert _train_losses(dirs[i]) == _train_losses(seq_dir)
    mine = checkpointing.load_state(os.path.join(dirs[i], 'checkpoints'))['params']
    alone = checkpointing.load_state(os.path.join(seq_dir, 'checkpoints'))['params']
    jax.tree.map(np.testing.assert_array_equal, mine, alone)
  assert not os.path.exists(tmp_path / 'checkpoints')
  # The next group of the same config reuses the program; another config not.
  assert multi_seed.program_for(_config(data_dir, 7), stacked=False) is program
  other = _config(data_dir, 0)
  other.model.dropout = 0.25
  assert multi_seed.program_for(other, stacked=False) is not program


def test_interrupted_group_resumes_to_the_same_result(data_dir, joint, sequential):
  _, dirs, root = joint
  # As if killed after the step-3 checkpoint: drop what came later.
  shutil.rmtree(root / 'checkpoints' / 'seed=0,3' / '6')
  for d in dirs:
    os.remove(os.path.join(d, 'results.json'))
  results, _ = _train_jointly(data_dir, root, 0)
  for i, s in enumerate(SEEDS):
    assert results[i]['test_accuracy'] == pytest.approx(
        sequential[s][0]['test_accuracy'], abs=1e-6)
    steps = [m['step'] for m in metrics_writer.read(dirs[i]) if m['split'] == 'train']
    assert steps == [2, 3, 4, 6]  # Logged at log and checkpoint steps, once each.


def test_refuses_configs_that_differ_beyond_the_seed(data_dir, tmp_path):
  a, b = _config(data_dir, 0), _config(data_dir, 1)
  b.model.dropout = 0.1
  with pytest.raises(errors.UserError, match='differ only in seed'):
    multi_seed.train_and_evaluate([a, b], [str(tmp_path / 'a'), str(tmp_path / 'b')],
                                  str(tmp_path))
