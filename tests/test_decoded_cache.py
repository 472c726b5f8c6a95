"""The device pipeline's decoded-split cache: the same arrays as decoding,
read back on the next start, missed when the dataset changes, skipped on a
data_dir it may not write to (real TFDS datasets, real file permissions)."""
import os

import numpy as np
import pytest

from configs import common
from lib.data import decoded, pipeline
from tests import fake_tfds


@pytest.fixture
def png_dir(tmp_path) -> str:
  path = str(tmp_path / 'tfds')
  fake_tfds.make('mnist', path, examples=64)  # PNG-encoded, as TFDS stores MNIST.
  return path


def _data(data_dir: str, **overrides) -> pipeline.Data:
  c = common.base_config('mnist').data
  c.data_dir = data_dir
  c.update(overrides)
  return pipeline.Data(c, 16, seed=0)


def _cached(data_dir: str) -> list[str]:
  cache = os.path.join(data_dir, 'mnist', decoded.CACHE_DIR)
  return sorted(os.listdir(cache)) if os.path.isdir(cache) else []


def test_cached_arrays_equal_decoded_ones_and_are_reused(png_dir):
  first = _data(png_dir).split_arrays('train')
  files = _cached(png_dir)
  assert len(files) == 1 and files[0].startswith('9.9.9-train-')
  cache_file = os.path.join(png_dir, 'mnist', decoded.CACHE_DIR, files[0])
  before = os.stat(cache_file).st_mtime_ns
  again = _data(png_dir).split_arrays('train')
  assert os.stat(cache_file).st_mtime_ns == before  # Read, not rewritten.
  for k in ('image', 'label'):
    np.testing.assert_array_equal(first[k], again[k])
  # The same as grain decoding every PNG, example by example.
  source = _data(png_dir).train_source
  np.testing.assert_array_equal(first['image'], np.stack([source[i]['image'] for i in range(64)]))


def test_binary_labels_come_from_the_same_cache(png_dir):
  multi = _data(png_dir).split_arrays('train')['label']
  binary = _data(png_dir, positive_class=3).split_arrays('train')['label']
  np.testing.assert_array_equal(binary, (multi == 3).astype(np.int32))
  assert len(_cached(png_dir)) == 1


def test_a_changed_dataset_misses_the_cache(png_dir):
  _data(png_dir).split_arrays('train')
  shard = next(f for f in os.listdir(os.path.join(png_dir, 'mnist', '9.9.9'))
               if '-train.' in f)
  path = os.path.join(png_dir, 'mnist', '9.9.9', shard)
  os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
  _data(png_dir).split_arrays('train')
  assert len(_cached(png_dir)) == 2


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes to read-only folders')
def test_a_read_only_data_dir_runs_without_cache(png_dir):
  os.chmod(os.path.join(png_dir, 'mnist'), 0o555)
  try:
    arrays = _data(png_dir).split_arrays('train')
  finally:
    os.chmod(os.path.join(png_dir, 'mnist'), 0o755)
  assert arrays['image'].shape == (64, 28, 28, 1) and _cached(png_dir) == []


def test_a_damaged_cache_file_is_decoded_again(png_dir):
  expected = _data(png_dir).split_arrays('train')
  cache_file = os.path.join(png_dir, 'mnist', decoded.CACHE_DIR, _cached(png_dir)[0])
  with open(cache_file, 'r+b') as f:
    f.truncate(100)
  np.testing.assert_array_equal(_data(png_dir).split_arrays('train')['image'],
                                expected['image'])
  assert os.path.getsize(cache_file) > 100


def test_device_eval_batches_from_the_cache_equal_grains(png_dir):
  device = list(_data(png_dir).eval_batches())
  assert any('-test-' in f for f in _cached(png_dir))
  grain_ = list(_data(png_dir, pipeline='grain').eval_batches())
  assert len(device) == len(grain_) == 4
  for d, g in zip(device, grain_):
    for k in ('image', 'label', 'mask'):
      np.testing.assert_array_equal(d[k], g[k])
