"""Validation data: a split of the dataset's own, or a fixed part of the
training split held out for choosing things (best step, learning rate).

`data.validation_split` names a split (the dataset's 'validation', or a TFDS
slice such as 'train[90%:]', with `data.train_split='train[:90%]'`);
`data.validation_fraction` instead holds out that fraction of the training
split: stratified by class where the labels are at hand (the device
pipeline, which decodes the split anyway), uniformly at random for streamed
datasets, where reading every label would mean reading every image. The
held-out examples never depend on the run's seed, so every seed and every
arm of a study chooses on the same examples.
"""
import math
import re

import numpy as np

from lib import errors

HOLDOUT_SEED = 0  # Fixed forever: changing it changes what 'validation' means.
NAME = 'validation'  # The split's name in metrics and results.


def check(data_config) -> None:
  fraction_, split_ = data_config.validation_fraction, data_config.validation_split
  if not 0 <= fraction_ < 1:
    raise errors.UserError(
        f'data.validation_fraction={fraction_} must be in [0, 1) (the part of '
        'the training split held out; 0: none)')
  if fraction_ and split_:
    raise errors.UserError(
        f"data.validation_fraction={fraction_} and data.validation_split="
        f"{split_!r} both choose validation data; set one of them")
  if not split_:
    return
  bases = set(base_splits(split_))
  if bases & set(base_splits(data_config.test_split)):
    raise errors.UserError(
        f'data.validation_split={split_!r} reads the test split '
        f'({data_config.test_split!r}): choosing on it is choosing on the test set; '
        'hold out part of the training split instead')
  train = data_config.train_split
  if bases & set(base_splits(train)) and ('[' not in split_ or '[' not in train):
    raise errors.UserError(
        f'data.validation_split={split_!r} and data.train_split={train!r} read the '
        "same examples; slice them apart (e.g. train_split='train[:90%]', "
        "validation_split='train[90%:]') or use data.validation_fraction")


def check_slices(split_infos, dataset: str, validation_split: str,
                 train_split: str) -> None:
  """Refuses a validation slice that holds no examples, or that shares
  examples with the training slice ('train[:99%]' with 'train[98%:]'),
  from the ranges TFDS itself reads for them (`split_infos`: the builder's
  info.splits). Unknown split names are left to the catalog's error."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if not all(b in split_infos for b in base_splits(validation_split) + base_splits(train_split)):
    return

  def ranges(split):
    try:
      instructions = tfds.core.ReadInstruction.from_spec(split).to_absolute(split_infos)
    except (ValueError, AssertionError):  # Malformed: the catalog says so.
      return None
    return [(a.splitname, a.from_ or 0,
             split_infos[a.splitname].num_examples if a.to is None else a.to)
            for a in instructions]
  validation, train = ranges(validation_split), ranges(train_split)
  if validation is None:
    return
  if sum(max(0, to - from_) for _, from_, to in validation) == 0:
    raise errors.UserError(
        f'data.validation_split={validation_split!r} holds no examples of '
        f'{dataset!r}; take a larger slice')
  if train is None:
    return
  for name, v_from, v_to in validation:
    for other, t_from, t_to in train:
      if name == other and max(v_from, t_from) < min(v_to, t_to):
        raise errors.UserError(
            f'data.validation_split={validation_split!r} and data.train_split='
            f'{train_split!r} share examples {max(v_from, t_from)}-'
            f'{min(v_to, t_to) - 1} of {name!r}; slice them apart (e.g. '
            "train_split='train[:90%]', validation_split='train[90%:]')")


def enabled(data_config) -> bool:
  return bool(data_config.validation_fraction or data_config.validation_split)


def held_out_count(n: int, fraction: float) -> int:
  """How many of n examples are held out (scikit-learn rounds up too)."""
  return math.ceil(fraction * n)


def indices(n: int, fraction: float, labels: np.ndarray | None
            ) -> tuple[np.ndarray, np.ndarray]:
  """(training, validation) indices into a split of n examples, sorted.

  Stratified when `labels` are given (each class keeps its share; needs at
  least one example of each class on both sides), else a uniform draw."""
  n_val = held_out_count(n, fraction)
  if n_val < 1 or n_val >= n:
    raise errors.UserError(
        f'data.validation_fraction={fraction} holds out {n_val} of {n} '
        'training examples; choose a fraction that leaves some on both sides')
  try:
    train, val = stratified_split(n, n_val, HOLDOUT_SEED, labels)
  except ValueError as e:  # Too few examples of a class to stratify.
    raise errors.UserError(
        f'data.validation_fraction={fraction}: {e}; use a larger fraction') from None
  return np.sort(train), np.sort(val)


def stratified_split(n: int, n_test: int, seed: int, labels: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray]:
  """(train, test) indices of scikit-learn's `train_test_split(np.arange(n),
  test_size=n_test, random_state=seed, stratify=labels)`, the same draws in
  the same order (sklearn 1.9's StratifiedShuffleSplit / ShuffleSplit), in
  numpy: importing scikit-learn took ~3 s of every run's start-up. Both
  orders as sklearn returns them; tests/test_holdout.py compares them with
  sklearn's own for the shipped datasets and random labels."""
  rng = np.random.RandomState(seed)
  if labels is None:  # ShuffleSplit.
    permutation = rng.permutation(n)
    return permutation[n_test:], permutation[:n_test]
  n_train = n - n_test
  classes, y_indices, class_counts = np.unique(
      np.asarray(labels), return_inverse=True, return_counts=True)
  if np.min(class_counts) < 2:
    raise ValueError(f'classes {classes[class_counts < 2].tolist()} have only 1 '
                     'example, and stratifying needs at least 2 of each')
  for side, count in (('training', n_train), ('held-out', n_test)):
    if count < len(classes):
      raise ValueError(f'the {side} side would get {count} examples, fewer '
                       f'than the {len(classes)} classes')
  class_indices = np.split(np.argsort(y_indices, kind='stable'),
                           np.cumsum(class_counts)[:-1])
  n_i = _approximate_mode(class_counts, n_train, rng)
  t_i = _approximate_mode(class_counts - n_i, n_test, rng)
  train, test = [], []
  for i, count in enumerate(class_counts):
    shuffled = class_indices[i].take(rng.permutation(count), mode='clip')
    train.extend(shuffled[:n_i[i]])
    test.extend(shuffled[n_i[i]:n_i[i] + t_i[i]])
  return rng.permutation(train), rng.permutation(test)


def _approximate_mode(class_counts: np.ndarray, n_draws: int,
                      rng: np.random.RandomState) -> np.ndarray:
  """Examples per class when drawing n_draws (sklearn.utils.extmath's
  `_approximate_mode`): the floored shares, then one more for the largest
  remainders, ties broken by `rng`."""
  continuous = class_counts / class_counts.sum() * n_draws
  floored = np.floor(continuous)
  need_to_add = int(n_draws - floored.sum())
  if need_to_add > 0:
    remainder = continuous - floored
    for value in np.sort(np.unique(remainder))[::-1]:
      (inds,) = np.where(remainder == value)
      add_now = min(len(inds), need_to_add)
      floored[rng.choice(inds, size=add_now, replace=False)] += 1
      need_to_add -= add_now
      if need_to_add == 0:
        break
  return floored.astype(int)


def base_splits(split: str) -> list[str]:
  """The dataset splits a TFDS split string reads: 'train[:90%]+test' ->
  ['train', 'test']."""
  return [re.split(r'[\[(]', part, maxsplit=1)[0].strip()
          for part in split.split('+')]


class Subset:
  """Some records of a TFDS data source, by index, read like the source
  (grain reads `__getitems__`-style batches through lib/data/pipeline.py)."""

  def __init__(self, source, index: np.ndarray):
    self._source, self._index = source, np.asarray(index)

  def __len__(self) -> int:
    return len(self._index)

  def __getitem__(self, i):
    return self._source[int(self._index[i])]

  def __getitems__(self, indices):
    return self._source.__getitems__([int(self._index[i]) for i in indices])

  def __repr__(self) -> str:
    return f'Subset({len(self._index)} of {self._source!r})'
