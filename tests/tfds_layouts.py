"""The layouts users' TFDS data_dirs really come in, made from datasets that
TFDS's own writer built (tests/fake_tfds.py, lib/data/digits.py).

TFDS writes tfrecord shards only through TensorFlow, which this project keeps
out, so `tfrecord_only` renames the array_record shards to tfrecord names and
records tfrecord in dataset_info.json (through TFDS's own proto functions):
the layout `tfds build --file_format=tfrecord` leaves, with shard bytes that
no test reads (the catalog must refuse the dataset before reading any).
`converted` then adds what `tfds convert_format --out_file_format=array_record`
writes in place (tensorflow_datasets/scripts/cli/convert_format_utils.py):
array_record shards next to the tfrecord ones and 'array_record' in
alternative_file_formats, file_format left as tfrecord.
"""
import os
import shutil

from tensorflow_datasets.core import dataset_info


def _shards(version_dir: str, kind: str) -> list[str]:
  return sorted(f for f in os.listdir(version_dir) if f'.{kind}-' in f)


def tfrecord_only(version_dir: str) -> None:
  """The dataset as if built with --file_format=tfrecord."""
  for f in _shards(version_dir, 'array_record'):
    os.replace(os.path.join(version_dir, f),
               os.path.join(version_dir, f.replace('.array_record-', '.tfrecord-')))
  info = dataset_info.read_proto_from_builder_dir(version_dir)
  info.file_format = 'tfrecord'
  del info.alternative_file_formats[:]
  dataset_info.write_dataset_info_proto(info, dataset_info_dir=version_dir)


def converted(version_dir: str) -> None:
  """The dataset as if built as tfrecord, then `tfds convert_format`ed in place."""
  keep = os.path.join(os.path.dirname(version_dir), '.array_record_shards')
  os.makedirs(keep)
  for f in _shards(version_dir, 'array_record'):
    shutil.copy(os.path.join(version_dir, f), keep)
  tfrecord_only(version_dir)
  for f in os.listdir(keep):
    shutil.move(os.path.join(keep, f), version_dir)
  os.rmdir(keep)
  info = dataset_info.read_proto_from_builder_dir(version_dir)
  info.alternative_file_formats.append('array_record')  # As convert_format does.
  dataset_info.write_dataset_info_proto(info, dataset_info_dir=version_dir)
