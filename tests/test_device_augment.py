"""Augmentation inside the train step (lib/train_step.py): the
'cifar' recipe gives the grain recipe's outcomes with its probabilities, each
seed draws its own, and what the device cannot hold or do is refused in one
line."""
import re

import grain
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from configs import common
from lib import errors, train_step
from lib.data import augment, device_memory

PAD = train_step.CIFAR_PADDING
OUTCOMES = 2 * (2 * PAD + 1) ** 2  # 81 crop offsets x flip or not.


def _image(h=32, w=32, c=3):
  # Random pixels: every (offset, flip) gives a different output.
  return np.random.default_rng(0).integers(1, 256, (h, w, c), np.uint8)


def _outcome_index(image, mode='constant'):
  """Maps an output to its (top, left, flipped) outcome, numbered 0..161."""
  h, w, _ = image.shape
  padded = np.pad(image, ((PAD, PAD), (PAD, PAD), (0, 0)), mode=mode)
  table = {}
  for flipped in (0, 1):
    for top in range(2 * PAD + 1):
      for left in range(2 * PAD + 1):
        window = padded[top:top + h, left:left + w]
        window = window[:, ::-1] if flipped else window
        table[np.ascontiguousarray(window).tobytes()] = (
            (flipped * (2 * PAD + 1) + top) * (2 * PAD + 1) + left)
  assert len(table) == OUTCOMES
  return lambda out: table[np.ascontiguousarray(out).tobytes()]


def _cifar_recipe(mode='constant'):
  config = common.base_config('cifar10').data
  config.augment, config.pad_mode = 'cifar', mode
  return train_step.read_augmentation(config)


def _device_counts(image, n, mode='constant', seed=0):
  batch = jnp.broadcast_to(image, (n, *image.shape))
  out = jax.jit(train_step.augment, static_argnums=2)(
      batch, jax.random.PRNGKey(seed), _cifar_recipe(mode))
  index = _outcome_index(image, mode)
  return np.bincount([index(o) for o in np.asarray(out)], minlength=OUTCOMES)


def _grain_counts(image, n, mode='constant'):
  ds = grain.MapDataset.source([{'image': image, 'label': 0}] * n).seed(0)
  for t in augment.train_transforms('cifar', 0, mode):
    ds = ds.random_map(t)
  index = _outcome_index(image, mode)
  return np.bincount([index(ex['image']) for ex in ds], minlength=OUTCOMES)


@pytest.mark.parametrize('mode', ['constant', 'reflect'])
def test_device_cifar_recipe_has_the_grain_recipes_outcomes_and_probabilities(mode):
  image = _image()
  n = 50 * OUTCOMES  # 50 expected per outcome.
  device, host = _device_counts(image, n, mode), _grain_counts(image, n, mode)
  # The same set: every crop offset, flipped and not, reachable by both.
  assert (device > 0).all() and (host > 0).all()
  # Each uniform within sampling error (chi-square, 161 degrees of freedom),
  # and the two not distinguishable from each other.
  assert stats.chisquare(device).pvalue > 1e-3
  assert stats.chisquare(host).pvalue > 1e-3
  assert stats.chi2_contingency(np.stack([device, host])).pvalue > 1e-3
  # Flipped in half of the draws.
  half = OUTCOMES // 2
  assert abs(device[half:].sum() / n - 0.5) < 4 * 0.5 / np.sqrt(n)


def test_each_example_and_each_seed_draws_its_own():
  image = _image(8, 8, 1)
  batch = jnp.broadcast_to(image, (64, 8, 8, 1))
  recipe = _cifar_recipe()
  keys = jax.random.split(jax.random.PRNGKey(1), 3)
  stacked = jax.jit(jax.vmap(lambda k: train_step.augment(batch, k, recipe)))(keys)
  for i, key in enumerate(keys):  # vmapped seeds: each its own key's draws.
    np.testing.assert_array_equal(stacked[i], train_step.augment(batch, key, recipe))
  assert len({o.tobytes() for o in np.asarray(stacked[0])}) > 20
  assert not np.array_equal(stacked[0], stacked[1])


def test_random_shift_alone_draws_as_before_the_recipe():
  """Configs with only random_shift (digits, mnist) train bitwise as before:
  the shift draws from the step's augmentation key itself."""
  images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (16, 8, 8, 1), np.uint8))
  key = jax.random.PRNGKey(3)
  padded = jnp.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
  offsets = jax.random.randint(key, (16, 2), 0, 5)
  before = jnp.stack([jax.lax.dynamic_slice(p, (o[0], o[1], 0), (8, 8, 1))
                      for p, o in zip(padded, offsets)])
  np.testing.assert_array_equal(train_step.augment(images, key, 2), before)
  np.testing.assert_array_equal(
      train_step.augment(images, key, train_step.Augmentation(shift=2)), before)


def test_flip_alone_mirrors_about_half():
  images = jnp.asarray(_image(4, 4, 1)[None].repeat(4000, 0))
  out = np.asarray(train_step.augment(images, jax.random.PRNGKey(0),
                                      train_step.Augmentation(flip=True)))
  flipped = (out == np.asarray(images)[:, :, ::-1]).all(axis=(1, 2, 3))
  same = (out == np.asarray(images)).all(axis=(1, 2, 3))
  assert (flipped | same).all() and abs(flipped.mean() - 0.5) < 0.04


def _data(**fields):
  config = common.base_config('cifar10').data
  config.update(fields)
  return config


def test_recipe_follows_the_config():
  assert train_step.read_augmentation(_data()) == train_step.Augmentation()
  assert not train_step.read_augmentation(_data()).active
  assert train_step.read_augmentation(_data(augment='cifar')) == (
      train_step.Augmentation(crop_padding=4, flip=True))
  # With grain the host does the 'cifar' recipe; the step only what is asked.
  assert train_step.read_augmentation(_data(augment='cifar', pipeline='grain')) == (
      train_step.Augmentation())
  assert train_step.read_augmentation(
      _data(random_flip=True, random_shift=2, pad_mode='edge')) == (
          train_step.Augmentation(flip=True, shift=2, pad_mode='edge'))


@pytest.mark.parametrize('fields, message', [
    (dict(augment='imagenet', image_size=224),
     "augment 'imagenet' decodes and resizes JPEGs on the host; set "
     '--config.data.pipeline=grain'),
    (dict(augment='cifar', image_size=28),
     "crops 'cifar' back to the images' own size; set --config.data.image_size=0"),
    (dict(pad_mode='wrap'), "unknown data.pad_mode 'wrap'"),
])
def test_what_the_device_cannot_do_is_one_line(fields, message):
  with pytest.raises(errors.UserError, match=re.escape(message)) as e:
    train_step.read_augmentation(_data(**fields))
  assert '\n' not in str(e.value)


def test_a_split_larger_than_the_device_memory_is_refused_naming_both():
  with pytest.raises(errors.UserError) as e:
    device_memory.check('cifar10', (32, 32, 3), 60_000, free=100_000_000,
                        where='cuda:0')
  assert str(e.value) == (
      "data.pipeline='device' keeps the cifar10 splits on each device: "
      '184.6 MB (60,000 images of 32x32x3 uint8), more than the 100.0 MB '
      'free on cuda:0; set --config.data.pipeline=grain to stream them from '
      'the host')
  device_memory.check('cifar10', (32, 32, 3), 60_000, free=200_000_000, where='x')


def test_free_memory_is_this_machines():
  free = device_memory.free_bytes()
  assert 0 < free < 2 ** 50
