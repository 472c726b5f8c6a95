"""TFDS builder for scikit-learn's 8x8 handwritten digits (UCI optdigits test set).

1,797 real 8x8 grayscale images of the digits 0-9, shipped inside the
scikit-learn wheel, so preparing them needs no network. Pixel values 0..16
are rescaled to uint8 0..255. The train/test split is a fixed stratified
80/20 split (1,437 / 360 images), the same on every machine
(lib/data/embedded.py).
"""
import gzip

import numpy as np
import tensorflow_datasets as tfds

from lib.data import embedded


class Digits(embedded.CsvBuilder):
  """scikit-learn's 8x8 handwritten digits (UCI optdigits test set): 1,797
  images, a stratified 80/20 split with seed 0."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Stratified 80/20 split with seed 0.'}
  SHAPE = (8, 8, 1)
  HOMEPAGE = 'https://archive.ics.uci.edu/dataset/80'

  def images_and_labels(self):
    images, target = load()
    return np.round(images * (255.0 / 16.0)).astype(np.uint8)[..., None], target


def load() -> tuple[np.ndarray, np.ndarray]:
  """(images [1797, 8, 8] float64 0..16, labels int): what
  `sklearn.datasets.load_digits()` returns as .images and .target, read from
  the same file in scikit-learn's package without importing scikit-learn
  (tests/test_digits_data.py checks the arrays)."""
  path = embedded.packaged_file('sklearn', 'datasets', 'data', 'digits.csv.gz')
  with gzip.open(path, mode='rt', encoding='utf-8') as f:
    data = np.loadtxt(f, delimiter=',')
  return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)
