"""CIFAR studies stack seeds (issue 25): with the 'cifar' recipe inside the
step, seeds trained by one vmapped program give each seed's sequential
results, to float tolerance, in one process and on 8 forced CPU devices.
Tiny real cifar10-shaped data (tests/fake_tfds.py)."""
import json
import os

import jax
import numpy as np
import pytest

from configs import cnn
from lib import checkpointing, metrics_writer, multi_seed
from tests import fake_tfds
from tests.conftest import run_module

pytestmark = pytest.mark.slow

SEEDS = (0, 1)
SMALL = {'model.features': '(8, 16)', 'model.convs_per_block': '1',
         'model.dense': '(32,)', 'data.augment': 'cifar',
         'data.random_shift': '0', 'data.validation_fraction': '0.0',
         'train.batch_size': '16', 'train.num_epochs': '0.0',
         'train.num_steps': '6', 'train.log_every_steps': '2',
         'train.checkpoint_every_steps': '3'}


@pytest.fixture(scope='module')
def cifar_dir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('cifar'))
  fake_tfds.make('cifar10', path, examples=64)
  return path


def _config(data_dir, seed, augment='cifar'):
  c = cnn.get_config('cifar10')
  c.seed = seed
  c.data.data_dir = data_dir
  c.model.features, c.model.convs_per_block, c.model.dense = (8, 16), 1, (32,)
  c.data.augment, c.data.random_shift = augment, 0  # The recipe, in the step.
  c.data.validation_fraction = 0.0
  c.train.batch_size, c.train.num_epochs, c.train.num_steps = 16, 0.0, 6
  c.train.log_every_steps, c.train.checkpoint_every_steps = 2, 3
  return c


def _losses(workdir):
  return [m['loss'] for m in metrics_writer.read(workdir) if m['split'] == 'train']


def _train(data_dir, root, seeds_per_program, augment='cifar'):
  dirs = [str(root / f'seed_{s}') for s in SEEDS]
  results = multi_seed.train_and_evaluate(
      [_config(data_dir, s, augment) for s in SEEDS], dirs, str(root),
      seeds_per_program, evaluate_train_split=False)
  return results, dirs


def test_stacked_cifar_seeds_match_sequential_runs(cifar_dir, tmp_path):
  sequential, seq_dirs = _train(cifar_dir, tmp_path / 'sequential', 1)
  stacked, dirs = _train(cifar_dir, tmp_path / 'stacked', 0)
  ckpt = tmp_path / 'stacked' / 'checkpoints'
  [chunk] = os.listdir(ckpt)
  together = checkpointing.load_state(str(ckpt / chunk))['params']
  for i in range(len(SEEDS)):
    np.testing.assert_allclose(stacked[i]['test_loss'], sequential[i]['test_loss'], rtol=1e-4)
    assert stacked[i]['test_accuracy'] == pytest.approx(sequential[i]['test_accuracy'], abs=1e-6)
    np.testing.assert_allclose(_losses(dirs[i]), _losses(seq_dirs[i]), rtol=1e-4)
    alone = checkpointing.load_state(os.path.join(seq_dirs[i], 'checkpoints'))['params']
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, atol=2e-5),
                 together, alone)
  # Each seed its own draws, and the recipe really runs in the step: the
  # same seeds without it train otherwise.
  assert _losses(dirs[0]) != _losses(dirs[1])
  _, plain_dirs = _train(cifar_dir, tmp_path / 'plain', 1, augment='none')
  for plain, augmented in zip(_losses(plain_dirs[0]), _losses(seq_dirs[0])):
    assert abs(plain - augmented) > 1e-4


def _seeds(out, data_dir, per_program, devices):
  overrides = [f'--config.{k}={v}' for k, v in SMALL.items()]
  proc = run_module('experiments.seeds', '--config=configs/cnn.py:cifar10',
                    f'--config.data.data_dir={data_dir}', *overrides,
                    '--seeds=2', f'--seeds_per_program={per_program}',
                    f'--out={out}', devices=devices, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(os.path.join(out, 'summary.json')) as f:
    return json.load(f)['accuracies'], [_losses(os.path.join(out, f'seed_{s}'))
                                        for s in SEEDS]


def test_on_eight_devices_stacked_seeds_match_sequential_ones(cifar_dir, tmp_path):
  """Sequential seeds over the 8-device mesh; stacked seeds in one program."""
  accuracies, losses = _seeds(tmp_path / 'sequential', cifar_dir, 1, devices=8)
  stacked_accuracies, stacked_losses = _seeds(tmp_path / 'stacked', cifar_dir, 0, devices=8)
  np.testing.assert_allclose(stacked_accuracies, accuracies, atol=1e-4)
  np.testing.assert_allclose(stacked_losses, losses, rtol=1e-4)
