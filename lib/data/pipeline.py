"""Input pipelines: what the trainer reads, for any prepared TFDS dataset.

Two ways to feed the train step, chosen by `config.data.pipeline`:
- 'grain': each process streams its own slice of the array_record files
  through grain (seeded shuffle, repeat, augmentation, batch); the iterator's
  position is saved in every checkpoint.
- 'device': the whole split is copied to the accelerator once and each batch
  is gathered there inside the compiled step. Data order is a pure function
  of (seed, step), so resuming needs no iterator state. For datasets that fit
  in memory (digits, mnist, cifar10) this removes the host from the loop;
  their augmentation runs in the step too (lib/train_step.py). A
  split that does not fit is refused when the config is read
  (lib/data/device_memory.py).

Images stay uint8 until the step (lib/train_step.py to_float), so both paths
normalize in one place and the device copy takes a quarter of the memory.
"""
import copy
import dataclasses
import functools
import math
import os
import threading
import time
from typing import Iterator

import grain
import jax
import numpy as np
import tensorflow_datasets as tfds

from lib import errors
from lib.data import augment, catalog, decoded, device_memory
from lib.data import holdout

PIPELINES = ('device', 'grain')


def relabel(labels: np.ndarray, positive_class: int) -> np.ndarray:
  """Multiclass labels, or 1/0 for "positive_class vs the rest"."""
  labels = np.asarray(labels, np.int32)
  return labels if positive_class < 0 else (labels == positive_class).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """What the model and the loop need to know about a dataset."""
  name: str
  num_classes: int
  image_shape: tuple[int, int, int]
  num_train: int
  num_eval: int          # The test split (data.test_split).
  num_validation: int = 0


class _Relabel(grain.transforms.Map):

  def __init__(self, positive_class: int):
    self.positive_class = positive_class

  def map(self, example):
    image = example['image']  # Encoded bytes stay so (_encoded).
    return {'image': image if isinstance(image, bytes) else np.asarray(image, np.uint8),
            'label': relabel(example['label'], self.positive_class)}


def _encoded(source):
  """The source with its images left encoded: the 'imagenet' recipe
  decodes each JPEG knowing its crop (lib/data/augment.py decode), where
  TFDS would decode it whole, with Pillow, before the crop is drawn."""
  source.decoders = {'image': tfds.decode.SkipDecoding()}
  return source


class _BatchedReads:
  """A TFDS data source that grain can read a batch of records from at once.

  grain reads through `_getitems` when a source has it; TFDS names the same
  method `__getitems__`. array_record pays a fixed cost per read call, so
  one call per batch instead of one per record cut the grain pipeline's
  cost on MNIST-sized data from 15.3 to 7.0 ms per batch of 128 on 2 cores
  (experiments/bench/README.md).
  """

  def __init__(self, source):
    self._source = source

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, index):
    return self._source[index]

  def _getitems(self, indices):
    return self._source.__getitems__(list(indices))

  def __repr__(self) -> str:
    return f'BatchedReads({self._source!r})'


def _die_with(trainer_pid: int, worker_index: int, worker_count: int) -> None:
  """In each grain worker: exit soon after the trainer dies, kill -9
  included; grain's workers otherwise outlive it, holding memory and file
  handles. A watching thread rather than PR_SET_PDEATHSIG, which fires when
  the *thread* that started the worker ends (one of grain's prefetch
  threads), not the trainer."""
  del worker_index, worker_count

  def watch():
    while os.getppid() == trainer_pid:  # Re-parented once the trainer is gone.
      time.sleep(0.5)
    os._exit(1)
  threading.Thread(target=watch, daemon=True, name='die-with-trainer').start()


class _ProcessBatches(grain.MapDataset):
  """This process's contiguous slice of every global batch of `parent`,
  stacked into one local batch, its examples read in one batched read.

  grain's slice() strides element-wise (batches need blocks), and its batch()
  reads element by element.
  """

  def __init__(self, parent: grain.MapDataset, global_batch: int, index: int,
               count: int):
    super().__init__(parent)
    self._global, self._local = global_batch, global_batch // count
    self._offset = index * self._local

  def __len__(self) -> int:
    return len(self._parent) // self._global

  def __getitem__(self, j):
    if isinstance(j, slice):
      return self.slice(j)
    start = j * self._global + self._offset
    examples = self._parent._getitems(range(start, start + self._local))  # pylint: disable=protected-access
    return jax.tree.map(lambda *xs: np.stack(xs), *examples)

  def __str__(self) -> str:
    return (f'ProcessBatches(global_batch={self._global}, '
            f'offset={self._offset}, local_batch={self._local})')


class Data:
  """A prepared dataset's splits, for this process, by role: 'train' (what
  the steps read), 'validation' (lib/data/holdout.py; absent unless the
  config asks for it) and 'test' (data.test_split)."""

  def __init__(self, data_config, global_batch_size: int, seed: int):
    if data_config.pipeline not in PIPELINES:
      raise errors.unknown_name('data pipeline', data_config.pipeline, PIPELINES)
    holdout.check(data_config)
    self.config = data_config
    self.batch_size = global_batch_size
    self.seed = seed
    self.builder = catalog.builder(data_config.name, data_config.data_dir)
    # ImageNet's JPEGs are decoded by the recipe, knowing the crop (_encoded).
    self._keep_encoded = _encoded if data_config.augment == 'imagenet' else (lambda s: s)
    self._full_train_source = self._keep_encoded(
        catalog.data_source(self.builder, data_config.train_split))
    self.eval_source = self._keep_encoded(
        catalog.data_source(self.builder, data_config.test_split))
    self.has_validation = holdout.enabled(data_config)
    n_full = len(self._full_train_source)
    if data_config.validation_split:
      holdout.check_slices(self.builder.info.splits, data_config.name,
                           data_config.validation_split, data_config.train_split)
      self.validation_source = self._keep_encoded(catalog.data_source(
          self.builder, data_config.validation_split))
      num_validation = len(self.validation_source)
    elif data_config.validation_fraction:
      num_validation = holdout.held_out_count(n_full, data_config.validation_fraction)
      holdout.indices(n_full, data_config.validation_fraction, None)  # Checks sizes.
    else:
      num_validation = 0
    n_proc = jax.process_count()
    if global_batch_size % jax.device_count():
      raise errors.UserError(
          f"train.batch_size={global_batch_size} must be a multiple of the "
          f"{jax.device_count()} devices; set --config.train.batch_size")
    num_train = n_full - (num_validation if data_config.validation_fraction else 0)
    if num_train < global_batch_size:
      raise errors.UserError(
          f"train.batch_size={global_batch_size} is larger than the "
          f"{num_train} training examples")
    self.local_batch_size = global_batch_size // n_proc
    self._train_transforms = augment.train_transforms(
        data_config.augment, data_config.image_size, data_config.pad_mode)
    self._eval_transforms = augment.eval_transforms(
        data_config.augment, data_config.image_size)
    shape = self._first_image_shape()
    num_classes = (catalog.num_classes(self.builder)
                   if data_config.positive_class < 0 else 2)
    self.spec = DatasetSpec(data_config.name, num_classes, shape, num_train,
                            len(self.eval_source), num_validation)
    if data_config.pipeline == 'device':
      device_memory.check(
          data_config.name, shape,
          num_train + num_validation + self.spec.num_eval,
          device_memory.free_bytes(), str(jax.local_devices()[0]))

  @functools.cached_property
  def _holdout(self) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) indices into the training split."""
    n, fraction = len(self._full_train_source), self.config.validation_fraction
    labels = (self._decoded(self.config.train_split, self._full_train_source)['label']
              if self.config.pipeline == 'device' else None)
    return holdout.indices(n, fraction, labels)

  @functools.cached_property
  def train_source(self):
    if not self.config.validation_fraction:
      return self._full_train_source
    return holdout.Subset(self._full_train_source, self._holdout[0])

  def source(self, role: str):
    """The data source of a role: 'train', 'validation' or 'test'."""
    if role == 'train':
      return self.train_source
    if role == 'validation':
      if not self.has_validation:
        raise ValueError('this config has no validation data')
      if self.config.validation_split:
        return self.validation_source
      return holdout.Subset(self._full_train_source, self._holdout[1])
    if role == 'test':
      return self.eval_source
    raise ValueError(f'unknown role {role!r}')

  def num_examples(self, role: str) -> int:
    return {'train': self.spec.num_train, 'validation': self.spec.num_validation,
            'test': self.spec.num_eval}[role]

  def _first_image_shape(self) -> tuple[int, int, int]:
    example = self._eval_dataset()[0]
    return tuple(example['image'].shape)

  @property
  def steps_per_epoch(self) -> int:
    return self.spec.num_train // self.batch_size

  # --- grain: per-process streaming ------------------------------------

  def _train_dataset(self) -> grain.MapDataset:
    # Shuffle (re-shuffled every epoch) and augment the global stream, then
    # each process takes its block of every global batch: the global batch
    # at step k is the single-process batch k, in the same order, whatever
    # the number of processes (so per-example dropout and augmentation
    # randomness do not depend on it either).
    ds = grain.MapDataset.source(_BatchedReads(self.train_source))
    ds = ds.seed(self.seed).shuffle().repeat()
    ds = ds.map(_Relabel(self.config.positive_class))
    if self._train_transforms:
      ds = ds.apply(self._train_transforms)
    return _ProcessBatches(ds, self.batch_size, jax.process_index(),
                           jax.process_count())

  def with_seed(self, seed: int) -> 'Data':
    """The same data with another seed's training order (nothing re-read)."""
    other = copy.copy(self)
    other.seed = seed
    return other

  def train_iterator(self) -> 'TrainBatches':
    """Per-process iterator of local batches; checkpoint it with the state."""
    return TrainBatches(self._batches_from)

  def _batches_from(self, start: int) -> grain.DatasetIterator:
    """grain's iterator of this process's blocks of global batches start,
    start + 1, ..."""
    ds = self._train_dataset()
    ids = (ds[start:] if start else ds).to_iter_dataset(grain.ReadOptions(
        num_threads=self.config.read_threads,
        prefetch_buffer_size=self.config.prefetch_batches))
    if (workers := worker_count(self.config)) > 0:
      ids = ids.mp_prefetch(
          grain.MultiprocessingOptions(num_workers=workers),
          worker_init_fn=functools.partial(_die_with, os.getpid()))
    return iter(ids)

  def _eval_dataset(self, role: str = 'test') -> grain.MapDataset:
    ds = grain.MapDataset.source(self.source(role))
    ds = ds.map(_Relabel(self.config.positive_class))
    return ds.apply(self._eval_transforms) if self._eval_transforms else ds

  def eval_batches(self, role: str = 'test') -> Iterator[dict[str, np.ndarray]]:
    """Local batches covering a role's split once, in inference mode;
    padding has mask 0.

    Every process yields the same number of batches (collectives need it).
    """
    n_proc, index = jax.process_count(), jax.process_index()
    if self.config.pipeline == 'device':  # Decoded once (lib/data/decoded.py).
      arrays = self.split_arrays(role)
      ds = [{'image': x, 'label': y} for x, y in
            zip(arrays['image'][index::n_proc], arrays['label'][index::n_proc])]
    else:
      ds = self._eval_dataset(role).slice(slice(index, None, n_proc))
    per_process = math.ceil(self.num_examples(role) / n_proc)
    num_batches = math.ceil(per_process / self.local_batch_size)
    for b in range(num_batches):
      rows = [ds[i] for i in range(b * self.local_batch_size,
                                   min(len(ds), (b + 1) * self.local_batch_size))]
      yield _pad_batch(rows, self.local_batch_size, self.spec.image_shape)

  # --- device: whole split in accelerator memory ------------------------

  def split_arrays(self, role: str) -> dict[str, np.ndarray]:
    """A role's whole split as uint8 images and int32 labels (no
    augmentation); `role` as in `source`."""
    if role not in ('train', 'validation', 'test'):
      raise ValueError(f'unknown role {role!r}: train, validation or test')
    if role == 'test':
      arrays = self._decoded(self.config.test_split, self.eval_source)
    elif role == 'validation' and self.config.validation_split:
      arrays = self._decoded(self.config.validation_split, self.validation_source)
    else:
      arrays = self._decoded(self.config.train_split, self._full_train_source)
      if self.config.validation_fraction:
        keep = self._holdout[0 if role == 'train' else 1]
        arrays = {k: v[keep] for k, v in arrays.items()}
    return {'image': arrays['image'],
            'label': relabel(arrays['label'], self.config.positive_class)}

  def _decoded(self, split: str, source) -> dict[str, np.ndarray]:
    def decode():
      ds = grain.MapDataset.source(source).map(_Relabel(-1))
      # Reading in batches of 1024 keeps grain's per-record overhead small.
      batches = list(ds.batch(1024).to_iter_dataset())
      return {k: np.concatenate([b[k] for b in batches]) for k in ('image', 'label')}
    return decoded.load_or_decode(self.builder, split, decode)


def worker_count(data_config) -> int:
  """grain's worker processes: data.worker_count, or for -1 (the default)
  every core this process may use on an accelerator (decoding JPEGs is
  per-core work) and none on CPU, where the cores compute the steps."""
  if data_config.worker_count >= 0:
    return data_config.worker_count
  return 0 if jax.default_backend() == 'cpu' else len(os.sched_getaffinity(0))


class TrainBatches(grain.DatasetIterator):
  """This process's training batches, positioned by the index of the next
  global batch: its whole state. Global batch k is the same whatever the
  number of processes, devices or grain workers (_ProcessBatches), so a
  checkpoint resumes on any of them, where grain's own state is one per
  process and worker. Setting a position starts a fresh grain iterator
  there (grain slices the dataset; nothing before it is read)."""

  def __init__(self, batches_from):
    super().__init__()
    self._batches_from = batches_from
    self._next = 0
    self._iterator = None  # Started on first use: a restore moves it first.

  def __next__(self):
    if self._iterator is None:
      self._iterator = self._batches_from(self._next)
    batch = next(self._iterator)
    self._next += 1
    return batch

  def get_state(self) -> dict:
    return {'next_batch': self._next}

  def set_state(self, state: dict) -> None:
    if state['next_batch'] != self._next:
      self.close()
      self._next = int(state['next_batch'])

  def close(self) -> None:
    if self._iterator is not None and hasattr(self._iterator, 'close'):
      self._iterator.close()
    self._iterator = None


def _pad_batch(rows, size: int, image_shape) -> dict[str, np.ndarray]:
  n = len(rows)
  images = np.zeros((size, *image_shape), np.uint8)
  labels = np.zeros((size,), np.int32)
  for i, row in enumerate(rows):
    images[i], labels[i] = row['image'], row['label']
  mask = np.arange(size) < n
  return {'image': images, 'label': labels, 'mask': mask}
