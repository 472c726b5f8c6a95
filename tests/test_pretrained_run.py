"""model.init_from through the trainer: every seed of a group starts from the
file, a linear probe moves only the head, and a bad file stops the run in
one line before anything is written."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors import numpy as st

from configs import common
from lib import trainer
from tests.conftest import run_module
from tests.test_pretrained import random_checkpoint, variables_of

SMALL = dict(stage_sizes=(1, 1, 1, 1), width=8)  # ResNet-18's layers, fewer.


def config_for(data_dir: str, path: str, trainable: str = 'head'):
  config = common.base_config('digits')
  config.data.data_dir = data_dir
  config.model = common.model('resnet18', init_from=path, **SMALL)
  config.train.trainable = trainable
  config.train.batch_size = 32
  config.train.num_epochs = 0.0
  config.train.num_steps = 3
  return config


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
  _, shapes = variables_of('resnet18', channels=1, size=8, **SMALL)
  tensors = random_checkpoint('resnet18', shapes, dtype=np.float32)
  tensors['fc.weight'] = np.zeros((1000, 64), np.float32)  # ImageNet's head.
  tensors['fc.bias'] = np.zeros(1000, np.float32)
  path = str(tmp_path_factory.mktemp('weights') / 'resnet18.safetensors')
  st.save_file(tensors, path)
  return path, tensors


def test_every_seed_starts_from_the_file_and_a_probe_moves_only_the_head(
    data_dir, weights):
  path, tensors = weights
  run = trainer.Run(config_for(data_dir, path))
  program = trainer.Program(run, stacked=True)
  state = program.init(jnp.arange(2))
  stem = np.asarray(state.params['stem_conv']['kernel'])
  want = tensors['conv1.weight'].transpose(2, 3, 1, 0)
  np.testing.assert_array_equal(stem[0], want)
  np.testing.assert_array_equal(stem[1], want)
  np.testing.assert_array_equal(
      state.model_state['batch_stats']['stage2_block1']['a']['bn']['var'][1],
      tensors['layer2.0.bn1.running_var'])
  heads = np.asarray(state.params['head']['kernel'])
  assert heads.shape == (2, 64, 10) and not np.array_equal(heads[0], heads[1])

  before = jax.tree.map(np.asarray, state)
  permutation = program.permutation(jnp.arange(2), 0)
  for _ in range(2):
    state, _ = program.step(state, (program.train_arrays, permutation))
  after = jax.tree.map(np.asarray, state)
  for module in before.params:
    same = all(np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(before.params[module]),
        jax.tree.leaves(after.params[module])))
    assert same == (module != 'head'), module
  for a, b in zip(jax.tree.leaves(before.model_state),
                  jax.tree.leaves(after.model_state)):
    np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_a_misfit_file_stops_the_run_in_one_line_and_writes_nothing(
    data_dir, tmp_path):
  _, shapes = variables_of('resnet18', channels=1, size=8)
  tensors = random_checkpoint('resnet18', shapes, dtype=np.float32)
  tensors['layer1.0.conv1.weight'] = np.zeros((64, 64, 1, 1), np.float32)
  bad = str(tmp_path / 'bad.safetensors')
  st.save_file(tensors, bad)
  workdir = tmp_path / 'run'
  proc = run_module(
      'experiments.train', '--config=configs/resnet18_transfer.py:mnist_5k,probe',
      f'--config.data.data_dir={data_dir}', '--config.data.name=digits',
      f'--config.model.init_from={bad}', f'--workdir={workdir}')
  assert proc.returncode == 2, proc.stderr[-2000:]
  errors = [l for l in proc.stderr.splitlines() if l.startswith('error:')]
  assert errors == [
      'error: layer1.0.conv1.weight in bad.safetensors has shape (64, 64, 1, 1); '
      'model resnet18 needs (64, 64, 3, 3) (our stage1_block1/a/conv/kernel); '
      'check the model and its settings, or leave the module out with '
      'model.init_exclude'], proc.stderr[-2000:]
  assert not os.path.exists(workdir)
