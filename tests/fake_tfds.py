"""Tiny real TFDS datasets (array_record) named like the big ones, for tests.

Each has the real dataset's features (an `Image` feature stored as PNG bytes,
which TFDS writes without TensorFlow, and a `ClassLabel`) but a handful of
random images, so configs for mnist, cifar10 and imagenet2012 run here.
"""
import io

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

SPECS = {
    # name: (image shape or None for variable, classes, splits)
    'mnist': ((28, 28, 1), 10, ('train', 'test')),
    'cifar10': ((32, 32, 3), 10, ('train', 'test')),
    'imagenet2012': ((None, None, 3), 1000, ('train', 'validation')),
}


def _png(array: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(buf, 'PNG')
  return buf.getvalue()


def make(name: str, data_dir: str, examples: int = 32) -> None:
  shape, classes, splits = SPECS[name]

  # Not registered: the real builders of these names are registered by tfds.
  class Fake(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    VERSION = tfds.core.Version('9.9.9')

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self,
          features=tfds.features.FeaturesDict({
              'image': tfds.features.Image(shape=shape),
              'label': tfds.features.ClassLabel(num_classes=classes)}),
          supervised_keys=('image', 'label'))

    def _split_generators(self, dl_manager):
      return {s: self._generate_examples(i) for i, s in enumerate(splits)}

    def _generate_examples(self, split_seed):
      rng = np.random.default_rng(split_seed)
      for i in range(examples):
        h, w = (shape[0], shape[1]) if shape[0] else rng.integers(70, 90, 2)
        image = rng.integers(0, 256, (h, w, shape[2]), dtype=np.uint8)
        yield i, {'image': _png(image), 'label': int(rng.integers(classes))}

  Fake.name = name  # The catalog finds datasets by directory name.
  Fake(data_dir=data_dir, file_format='array_record').download_and_prepare()
