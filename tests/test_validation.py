"""Validation data: a deterministic, stratified part of the training split
(or a split string), disjoint from what is trained on; the trainer
evaluates on it while training and reads the test split once, after the
last step; results say which is which."""
import json
import os

import numpy as np
import pytest

from configs import cnn, mlp
from lib import errors, metrics_writer, trainer
from lib.data import holdout, pipeline


def _data(data_dir, seed=0, pipeline_name='device', **data):
  config = mlp.get_config('digits')
  config.data.data_dir = data_dir
  config.data.pipeline = pipeline_name
  config.data.validation_fraction = 0.0  # The config's default is 0.1.
  for k, v in data.items():
    config.data[k] = v
  return pipeline.Data(config.data, 128, seed)


def _images_as_set(arrays) -> set:
  return {x.tobytes() for x in arrays['image']}


def test_the_held_out_part_is_fixed_stratified_and_disjoint(data_dir):
  full = _data(data_dir, validation_fraction=0.0).split_arrays('train')
  data = _data(data_dir, validation_fraction=0.1)
  train, val = data.split_arrays('train'), data.split_arrays('validation')
  assert len(val['label']) == holdout.held_out_count(1437, 0.1) == 144
  assert len(train['label']) + len(val['label']) == 1437 == data.spec.num_train + 144
  assert data.spec.num_validation == 144
  # The same examples whatever the run's seed, and every example on one side.
  other = _data(data_dir, seed=7, validation_fraction=0.1)
  np.testing.assert_array_equal(other.split_arrays('validation')['image'], val['image'])
  train_idx, val_idx = data._holdout  # pylint: disable=protected-access
  assert not set(train_idx) & set(val_idx)
  assert sorted([*train_idx, *val_idx]) == list(range(1437))
  np.testing.assert_array_equal(full['image'][val_idx], val['image'])
  # Stratified: each class keeps its share of the training split (+-1).
  for c in range(10):
    share = np.mean(full['label'] == c) * 144
    assert abs(np.sum(val['label'] == c) - share) <= 1
  # The test split is untouched by it.
  np.testing.assert_array_equal(data.split_arrays('test')['image'],
                                _data(data_dir).split_arrays('test')['image'])


def test_the_streamed_pipeline_holds_out_the_same_number_of_examples(data_dir):
  data = _data(data_dir, pipeline_name='grain', validation_fraction=0.1)
  assert len(data.train_source) == 1293 and len(data.source('validation')) == 144
  seen = [data.source('validation')[i]['image'].tobytes() for i in range(144)]
  train = {data.train_source[i]['image'].tobytes() for i in range(1293)}
  # Distinct examples (digits has a few duplicate images; count indices).
  assert len(seen) == 144
  assert len(set(data._holdout[0]) & set(data._holdout[1])) == 0  # pylint: disable=protected-access
  del train


def test_tfds_split_strings_choose_validation_data(data_dir):
  data = _data(data_dir, train_split='train[:90%]', validation_split='train[90%:]')
  assert data.spec.num_train == 1293 and data.spec.num_validation == 144
  train, val = data.split_arrays('train'), data.split_arrays('validation')
  full = _data(data_dir).split_arrays('train')
  np.testing.assert_array_equal(np.concatenate([train['image'], val['image']]),
                                full['image'])


@pytest.mark.parametrize('data, words', [
    ({'validation_fraction': 1.5}, 'must be in [0, 1)'),
    ({'validation_fraction': 0.1, 'validation_split': 'test'}, 'set one of them'),
    ({'validation_split': 'validaton'}, "no split 'validaton'"),
    ({'train_split': 'train[:90%]', 'validation_split': 'train[90%'}, "split 'train[90%'"),
    ({'validation_split': 'test'}, 'reads the test split'),
    ({'validation_split': 'train[90%:]'}, 'read the same examples'),
    # Slices that overlap, found from the ranges TFDS reads (digits' train
    # split has 1,437 examples: 90% ends at 1293, 85% starts at 1221).
    ({'train_split': 'train[:90%]', 'validation_split': 'train[85%:]'},
     "share examples 1221-1292 of 'train'"),
    # An empty slice (what a 1% minival of a tiny split gives): nothing to evaluate on.
    ({'train_split': 'train[:1436]', 'validation_split': 'train[1437:]'},
     "holds no examples of 'digits'"),
])
def test_bad_validation_settings_are_one_line(data_dir, data, words):
  with pytest.raises(errors.UserError, match=None) as e:
    _data(data_dir, **data)
  assert words in str(e.value) and '\n' not in str(e.value)


def test_training_chooses_on_validation_and_reads_test_once_after_the_last_step(
    data_dir, tmp_path, monkeypatch):
  """Fails if anything evaluated or chosen while training reads the test
  split: every read of a role's batches is logged beside every metric
  written, and the test split must appear once, after the last step."""
  events = []
  real_batches = pipeline.Data.eval_batches

  def logged_batches(self, role='test'):
    events.append(('read', role))
    return real_batches(self, role)
  real_write = metrics_writer.MetricWriter.write

  def logged_write(self, split, step, metrics):
    events.append(('write', split, step))
    return real_write(self, split, step, metrics)
  monkeypatch.setattr(pipeline.Data, 'eval_batches', logged_batches)
  monkeypatch.setattr(metrics_writer.MetricWriter, 'write', logged_write)

  config = cnn.get_config('digits,runlocal')
  config.data.data_dir = data_dir
  config.train.eval_every_epochs = 0.5  # 5 steps of 10 per epoch.
  workdir = str(tmp_path / 'run')
  results = trainer.train_and_evaluate(config, workdir)

  reads = [e for e in events if e[0] == 'read']
  assert reads == [('read', 'validation'), ('read', 'test')]
  test_read = events.index(('read', 'test'))
  assert all(e[0] != 'write' or e[1] != 'train' for e in events[test_read:])
  assert [e for e in events if e[:2] == ('write', 'test')] == [('write', 'test', 20)]
  assert [e[2] for e in events if e[:2] == ('write', 'validation')] == [5, 10, 15, 20]

  assert results['chosen_on'] == 'validation'
  assert results['validation_split'] == 'train (held out: 0.1)' and results['test_split'] == 'test'
  logged = metrics_writer.read(workdir)
  val = {m['step']: m['accuracy'] for m in logged if m['split'] == 'validation'}
  test = [m for m in logged if m['split'] == 'test']
  assert results['validation_accuracy'] == val[20]
  assert results['best_accuracy'] == max(val.values())
  assert val[results['best_step']] == max(val.values())
  assert not any(k.startswith('eval') for k in results)  # One name per figure.
  assert len(test) == 1 and test[0]['accuracy'] == results['test_accuracy']
  with open(os.path.join(workdir, 'results.json')) as f:
    assert json.load(f) == results


def test_without_validation_data_the_results_say_they_chose_on_test(data_dir, tmp_path):
  config = mlp.get_config('digits,runlocal')
  config.data.data_dir = data_dir
  config.data.validation_fraction = 0.0
  results = trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  assert results['chosen_on'] == 'test' and results['test_split'] == 'test'
  assert 'validation_accuracy' not in results and 'validation_split' not in results
  logged = metrics_writer.read(str(tmp_path / 'run'))
  assert {m['split'] for m in logged} == {'train', 'test'}
  test = {m['step']: m['accuracy'] for m in logged if m['split'] == 'test'}
  assert test[results['steps']] == results['test_accuracy']  # Once at the end.
  assert results['best_accuracy'] == max(test.values())
