"""End-to-end training on digits, in process: outputs, learning, pipelines."""
import json
import os

import jax
import numpy as np
import pytest

from configs import cnn, logreg, mlp
from lib import checkpointing, metrics_writer, trainer
from tests.conftest import run_module


def _short(config, data_dir, steps=40, **data):
  config.data.data_dir = data_dir
  config.data.update(data)
  config.train.num_epochs = 0.0
  config.train.num_steps = steps
  config.train.log_every_steps = 10
  config.train.checkpoint_every_steps = 20
  return config


@pytest.mark.parametrize('pipeline', ['device', 'grain'])
def test_cnn_learns_and_writes_its_outputs(data_dir, tmp_path, pipeline):
  config = _short(cnn.get_config('digits'), data_dir, steps=60, pipeline=pipeline)
  results = trainer.train_and_evaluate(config, str(tmp_path))
  assert results['test_accuracy'] > 0.5  # 10 classes: chance is 0.1.
  files = set(os.listdir(tmp_path))
  assert {'config.json', 'metrics.jsonl', 'results.json', 'tensorboard',
          'checkpoints'} <= files
  assert any(f.startswith('events.out.tfevents') for f in
             os.listdir(tmp_path / 'tensorboard'))
  with open(tmp_path / 'config.json') as f:
    assert json.load(f)['data']['pipeline'] == pipeline
  train = [m for m in metrics_writer.read(str(tmp_path)) if m['split'] == 'train']
  assert [m['step'] for m in train] == [10, 20, 30, 40, 50, 60]
  assert train[-1]['loss'] < train[0]['loss']
  assert checkpointing.Checkpointer(str(tmp_path / 'checkpoints'), 3).latest_step() == 60


def test_binary_logistic_regression_learns(data_dir, tmp_path):
  config = _short(logreg.get_config('digits,binary'), data_dir, steps=100)
  results = trainer.train_and_evaluate(config, str(tmp_path))
  # "Is it a 3?": 90% of the test set says no, so demand clearly more.
  assert results['test_accuracy'] > 0.95


def test_finished_run_started_again_does_no_work(data_dir, tmp_path):
  config = _short(mlp.get_config('digits'), data_dir, steps=20)
  first = trainer.train_and_evaluate(config, str(tmp_path))
  again = trainer.train_and_evaluate(config, str(tmp_path))
  assert again['test_accuracy'] == first['test_accuracy']
  steps = [m['step'] for m in metrics_writer.read(str(tmp_path)) if m['split'] == 'train']
  assert steps == [10, 20]


@pytest.mark.slow
def test_bfloat16_compute_keeps_float32_params(data_dir, tmp_path):
  # A subprocess: bf16 on CPU needs an XLA flag set before JAX starts.
  proc = run_module('experiments.train', '--config=configs/cnn.py:digits',
                    f'--workdir={tmp_path}', f'--config.data.data_dir={data_dir}',
                    '--config.train.compute_dtype=bfloat16',
                    '--config.train.num_epochs=5')
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(tmp_path / 'results.json') as f:
    results = json.load(f)
  assert np.isfinite(results['test_loss']) and results['test_accuracy'] > 0.8
  state = checkpointing.load_state(str(tmp_path / 'checkpoints'))
  dtypes = {leaf.dtype for leaf in jax.tree.leaves(state['params'])}
  assert dtypes == {np.dtype('float32')}


def test_bfloat16_in_a_process_without_the_flag_is_refused(data_dir, tmp_path):
  from lib import errors, xla_cpu
  config = _short(cnn.get_config('digits'), data_dir)
  config.train.compute_dtype = 'bfloat16'
  if xla_cpu.ynn_fusion_off():
    pytest.skip('this process already has the flag')
  with pytest.raises(errors.UserError, match='ynn_fusion_type'):
    trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_gradient_accumulation_matches_one_big_batch(data_dir, tmp_path):
  params = []
  for accum in (1, 4):
    config = _short(mlp.get_config('digits'), data_dir, steps=10)
    config.model.dropout = 0.0  # Dropout masks differ per slice by design.
    config.optimizer.name = 'sgd'
    config.optimizer.learning_rate = 0.1
    config.train.grad_accum_steps = accum
    trainer.train_and_evaluate(config, str(tmp_path / f'accum{accum}'))
    params.append(checkpointing.load_state(str(tmp_path / f'accum{accum}' / 'checkpoints'))['params'])
  for a, b in zip(*(jax.tree.leaves(p) for p in params)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
