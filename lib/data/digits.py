"""TFDS builder for scikit-learn's 8x8 handwritten digits (UCI optdigits test set).

1,797 real 8x8 grayscale images of the digits 0-9, shipped inside the
scikit-learn wheel, so preparing them needs no network. Pixel values 0..16
are rescaled to uint8 0..255. The train/test split is a fixed stratified
80/20 split (1,437 / 360 images), the same on every machine.

Images are stored as a `Tensor` feature rather than `Image`: TFDS needs
TensorFlow to PNG-encode `Image` features, and we keep TensorFlow out.
"""
import gzip
import importlib.util
import os

import numpy as np
import tensorflow_datasets as tfds

from lib.data import holdout

SPLIT_SEED = 0  # Fixed forever: changing it changes what 'test' means.
TEST_FRACTION = 0.2


class Digits(tfds.core.GeneratorBasedBuilder):
  """scikit-learn's digits as a TFDS dataset."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Stratified 80/20 split with seed 0.'}

  def _info(self) -> tfds.core.DatasetInfo:
    # DatasetInfo directly: dataset_info_from_configs() wants a metadata
    # folder next to the builder's module, which a single file does not need.
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=(8, 8, 1), dtype=np.uint8),
            'label': tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=('image', 'label'),
        homepage='https://archive.ics.uci.edu/dataset/80',
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the data ships with scikit-learn.
    images, target = load()
    images = np.round(images * (255.0 / 16.0)).astype(np.uint8)
    train, test = holdout.stratified_split(
        len(images), holdout.held_out_count(len(images), TEST_FRACTION),
        SPLIT_SEED, target)
    return {
        'train': self._generate_examples(images, target, np.sort(train)),
        'test': self._generate_examples(images, target, np.sort(test)),
    }

  def _generate_examples(self, images, labels, indices):
    for i in indices:
      yield int(i), {'image': images[i][..., None], 'label': int(labels[i])}


def load() -> tuple[np.ndarray, np.ndarray]:
  """(images [1797, 8, 8] float64 0..16, labels int): what
  `sklearn.datasets.load_digits()` returns as .images and .target, read from
  the same file in scikit-learn's package without importing scikit-learn
  (seconds of start-up; tests/test_digits_data.py checks the arrays)."""
  spec = importlib.util.find_spec('sklearn')  # Finds it; imports nothing.
  if spec is None or not spec.submodule_search_locations:
    raise ModuleNotFoundError(
        'the digits dataset ships inside scikit-learn, which is not installed; '
        'pip install -r requirements.txt')
  path = os.path.join(spec.submodule_search_locations[0], 'datasets', 'data',
                      'digits.csv.gz')
  with gzip.open(path, mode='rt', encoding='utf-8') as f:
    data = np.loadtxt(f, delimiter=',')
  return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)
