"""TFDS builder for scikit-learn's 8x8 handwritten digits (UCI optdigits test set).

1,797 real 8x8 grayscale images of the digits 0-9, shipped inside the
scikit-learn wheel, so preparing them needs no network. Pixel values 0..16
are rescaled to uint8 0..255. The train/test split is a fixed stratified
80/20 split (1,437 / 360 images), the same on every machine.

Images are stored as a `Tensor` feature rather than `Image`: TFDS needs
TensorFlow to PNG-encode `Image` features, and we keep TensorFlow out.
"""
import numpy as np
import tensorflow_datasets as tfds

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
    from sklearn import datasets, model_selection  # pylint: disable=g-import-not-at-top
    digits = datasets.load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    indices = np.arange(len(images))
    train, test = model_selection.train_test_split(
        indices, test_size=TEST_FRACTION, stratify=digits.target,
        random_state=SPLIT_SEED)
    return {
        'train': self._generate_examples(images, digits.target, np.sort(train)),
        'test': self._generate_examples(images, digits.target, np.sort(test)),
    }

  def _generate_examples(self, images, labels, indices):
    for i in indices:
      yield int(i), {'image': images[i][..., None], 'label': int(labels[i])}
