"""Checks that every shard of a split is there and whole, before a run
writes anything: a copy cut short (a missing file, a truncated one) would
otherwise fail at the first read of that shard, mid-run, in array_record's
C++ with a long traceback."""
import os

from array_record.python import array_record_module
import tensorflow_datasets as tfds

from lib import errors


def _records(path: str) -> int:
  """The records array_record finds in the file; 0 for one it cannot read.
  Opening reads only the footer and index, which a file cut short lacks."""
  reader = array_record_module.ArrayRecordReader(path)
  found = reader.num_records() if reader.ok() else 0
  try:
    reader.close()
  except RuntimeError:  # close() reports the damage again; it is counted.
    pass
  return found


def check(b: tfds.core.DatasetBuilder, split: str, fix: str) -> None:
  """Raises UserError naming the first shard of `split` that is missing or
  holds other than the records dataset_info.json counts; `fix` ends it."""
  info = b.info.splits[split]
  paths, lengths = info.filepaths, info.shard_lengths
  missing = [p for p in paths if not os.path.exists(p)]
  where = f'{b.info.name}:{b.info.version} split {split!r}'
  if missing:
    raise errors.UserError(
        f'{where}: {len(missing)} of its {len(paths)} shards are missing '
        f'(first: {missing[0]}); {fix}')
  if b.info.file_format != tfds.core.FileFormat.ARRAY_RECORD:
    return  # Parquet: its reader checks its own footer when it opens.
  for path, expected in zip(paths, lengths):
    found = _records(os.fspath(path))
    if found != expected:
      raise errors.UserError(
          f'{where}: shard {path} holds {found} of its {expected} records '
          f'(truncated or damaged, {os.path.getsize(path):,} bytes); {fix}')
