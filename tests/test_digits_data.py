"""The digits TFDS dataset and the input pipelines that read it."""
import os
import sys

import jax
import ml_collections
import numpy as np
import pytest

from configs import common
from lib import errors, train_step
from lib.data import catalog, pipeline


def _data_config(data_dir, **overrides) -> ml_collections.ConfigDict:
  c = common.base_config('digits').data
  c.data_dir = data_dir
  c.update(overrides)
  return c


def test_prepared_as_array_record_with_fixed_stratified_split(data_dir):
  b = catalog.builder('digits', data_dir)
  assert b.info.file_format.value == 'array_record'
  assert b.info.splits['train'].num_examples == 1437
  assert b.info.splits['test'].num_examples == 360
  files = os.listdir(os.path.join(data_dir, 'digits', '1.0.0'))
  assert any('array_record' in f for f in files)
  test = catalog.data_source(b, 'test')
  labels = np.array([test[i]['label'] for i in range(len(test))])
  # Stratified: every class has 20% of its images in test (+-1).
  assert np.all(np.abs(np.bincount(labels, minlength=10) - 36) <= 1)
  assert test[0]['image'].shape == (8, 8, 1) and test[0]['image'].dtype == np.uint8


def test_prepared_once_then_reused(data_dir):
  info = os.path.join(data_dir, 'digits', '1.0.0', 'dataset_info.json')
  before = os.stat(info).st_mtime_ns
  catalog.builder('digits', data_dir)
  assert os.stat(info).st_mtime_ns == before


def test_no_tensorflow_at_run_time(data_dir):
  catalog.data_source(catalog.builder('digits', data_dir), 'train')[0]
  assert 'tensorflow' not in sys.modules


def test_missing_dataset_says_how_to_prepare(tmp_path):
  with pytest.raises(errors.UserError, match=r'\./launch\.sh prepare mnist '):
    catalog.builder('mnist', str(tmp_path))
  assert os.listdir(tmp_path) == []


def test_grain_batches_are_seeded_and_cover_the_epoch(data_dir):
  data = pipeline.Data(_data_config(data_dir, pipeline='grain'), 64, seed=0)
  first = [next(data.train_iterator()) for _ in range(1)][0]
  assert first['image'].shape == (64, 8, 8, 1) and first['label'].shape == (64,)
  it_a, it_b = data.train_iterator(), data.train_iterator()
  for _ in range(3):
    np.testing.assert_array_equal(next(it_a)['label'], next(it_b)['label'])
  other = pipeline.Data(_data_config(data_dir, pipeline='grain'), 64, seed=1)
  assert not np.array_equal(next(other.train_iterator())['image'], first['image'])
  # One epoch of batches holds distinct examples (a permutation).
  it = data.train_iterator()
  seen = np.concatenate([next(it)['image'].reshape(64, -1)
                         for _ in range(data.steps_per_epoch)])
  assert len(np.unique(seen, axis=0)) > 0.97 * len(seen)  # digits has a few duplicate images


def test_grain_iterator_state_round_trips(data_dir):
  data = pipeline.Data(_data_config(data_dir, pipeline='grain'), 32, seed=0)
  it = data.train_iterator()
  next(it), next(it)
  state = it.get_state()
  expected = next(it)
  resumed = data.train_iterator()
  resumed.set_state(state)
  np.testing.assert_array_equal(next(resumed)['image'], expected['image'])


def test_grain_batch_is_one_read_of_the_examples_one_by_one(data_dir):
  """The batched read gives each process the examples a per-example read
  gives, in order: its block of the shuffled, relabeled stream."""
  data = pipeline.Data(_data_config(data_dir, pipeline='grain'), 32, seed=0)
  batches = data._train_dataset()  # pylint: disable=protected-access
  examples = batches._parent  # pylint: disable=protected-access
  for step in (0, 1, data.steps_per_epoch + 3):  # Into the second epoch.
    batch = batches[step]
    for k in ('image', 'label'):
      np.testing.assert_array_equal(batch[k], np.stack(
          [examples[step * 32 + i][k] for i in range(32)]))


def test_eval_batches_cover_split_once_with_mask(data_dir):
  data = pipeline.Data(_data_config(data_dir), 128, seed=0)
  batches = list(data.eval_batches())
  assert len(batches) == 3 and sum(b['mask'].sum() for b in batches) == 360


def test_device_batches_are_epoch_permutations(data_dir):
  data = pipeline.Data(_data_config(data_dir), 100, seed=0)
  arrays = jax.tree.map(jax.numpy.asarray, data.split_arrays('train'))
  key = jax.random.PRNGKey(0)
  labels = np.concatenate([
      np.asarray(train_step.device_batch(arrays, jax.numpy.int32(s), key, 100)['label'])
      for s in range(data.steps_per_epoch)])
  # 14 batches of an epoch draw 1400 distinct indices: their label counts
  # never exceed the split's.
  assert np.all(np.bincount(labels, minlength=10)
                <= np.bincount(arrays['label'], minlength=10))
  again = train_step.device_batch(arrays, jax.numpy.int32(3), key, 100)['label']
  np.testing.assert_array_equal(
      again, train_step.device_batch(arrays, jax.numpy.int32(3), key, 100)['label'])


def test_binary_task_relabels(data_dir):
  data = pipeline.Data(_data_config(data_dir, positive_class=3), 64, seed=0)
  assert data.spec.num_classes == 2
  labels = data.split_arrays('test')['label']
  assert set(np.unique(labels)) == {0, 1}
  assert labels.sum() in (36, 37)  # The 3s in a stratified 20% test split.
