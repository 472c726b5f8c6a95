"""A split decoded once: the device pipeline's whole-split arrays, cached
next to the dataset and keyed by its fingerprint.

Decoding MNIST's 60,000 PNGs takes 11-14 s on 2 cores, at every start and
resume; reading them back as one uint8 array takes a fraction of a second.
The cache lives in DATA_DIR/NAME/.decoded/ (a dot folder, which neither TFDS
nor lib/data/locate.py reads as a version), one .npz per (version, split,
fingerprint); the fingerprint covers dataset_info.json and each shard's
name, size and modification time, so a rebuilt or re-copied dataset misses
and is decoded again. A data_dir we may not write to is simply not cached.
"""
import hashlib
import os
import re
import zipfile
from typing import Callable

import numpy as np
import tensorflow_datasets as tfds

from lib import atomic
from lib.data import holdout

CACHE_DIR = '.decoded'
_SAFE = re.compile(r'[^A-Za-z0-9_.+-]')


def fingerprint(b: tfds.core.DatasetBuilder, split: str) -> str:
  h = hashlib.sha256()
  with open(os.path.join(b.data_dir, 'dataset_info.json'), 'rb') as f:
    h.update(f.read())
  h.update(split.encode())
  for base in holdout.base_splits(split):  # A slice reads its base's shards.
    for path in b.info.splits[base].filepaths:
      st = os.stat(path)
      h.update(f'{os.path.basename(path)}:{st.st_size}:{st.st_mtime_ns};'.encode())
  return h.hexdigest()[:16]


def path(b: tfds.core.DatasetBuilder, split: str) -> str:
  version_dir = os.fspath(b.data_dir)
  return os.path.join(os.path.dirname(version_dir), CACHE_DIR,
                      f'{os.path.basename(version_dir)}-{_SAFE.sub("_", split)}-'
                      f'{fingerprint(b, split)}.npz')


def load_or_decode(b: tfds.core.DatasetBuilder, split: str,
                   decode: Callable[[], dict[str, np.ndarray]]
                   ) -> dict[str, np.ndarray]:
  """The split's arrays from the cache, or from `decode()` (then cached)."""
  target = path(b, split)
  try:
    with np.load(target) as cached:
      return {k: cached[k] for k in cached.files}
  except (OSError, ValueError, EOFError, zipfile.BadZipFile):
    pass  # Not cached yet (or a damaged file, replaced below).
  arrays = decode()
  try:
    # A reader sees the whole file or none, also with several processes of
    # one run decoding at once.
    with atomic.replacing(target, 'wb') as f:
      np.savez(f, **arrays)
  except OSError:
    pass  # A read-only or full data_dir: run without the cache.
  return arrays
