"""Augmentation that runs inside the compiled train step, on device.

The step calls `apply(images, key, recipe)` with its own key (fold_in of the
state's key and step), so the augmentation is reproducible, resumes exactly
and, with stacked seeds, follows each seed's key. `recipe(data_config)` says
what to apply:

- data.augment='cifar' with data.pipeline='device': lib/data/augment.py's
  'cifar' recipe (pad 4 with data.pad_mode, a random crop back to the
  image's size, a random left-right flip), the same outcomes with the same
  probabilities (tests/test_device_augment.py); with 'grain' it runs on the
  host instead.
- data.random_flip: a left-right flip with probability 1/2 (either pipeline).
- data.random_shift: a translation by up to that many pixels, after the rest
  (either pipeline; random_shift=4 alone is the 'cifar' crop without flip).

CIFAR-10's training split is 150 MB of uint8 (airbench keeps it on the GPU
and augments there too); per-example host code could not feed a step of a
few milliseconds.
"""
import dataclasses

import jax
import jax.numpy as jnp

from lib import errors

PAD_MODES = ('constant', 'edge', 'reflect', 'symmetric')  # np.pad's names.
CIFAR_PADDING = 4  # He et al. 2015, sec. 4.2; augment.train_transforms('cifar').


@dataclasses.dataclass(frozen=True)
class Recipe:
  """What the step applies, in this order: pad-and-crop, flip, shift."""
  crop_padding: int = 0     # Pad this much, then crop back at random.
  flip: bool = False        # Left-right with probability 1/2.
  shift: int = 0            # data.random_shift.
  pad_mode: str = 'constant'

  @property
  def active(self) -> bool:
    return bool(self.crop_padding or self.flip or self.shift)


def recipe(data_config) -> Recipe:
  """The device-side augmentation a data config asks for (UserError if it
  asks for one the device cannot do)."""
  pad_mode = data_config.pad_mode
  if pad_mode not in PAD_MODES:
    raise errors.unknown_name('data.pad_mode', pad_mode, PAD_MODES)
  on_device = data_config.pipeline == 'device'
  cifar = on_device and data_config.augment == 'cifar'
  if on_device and data_config.augment == 'imagenet':
    raise errors.UserError(
        "augment 'imagenet' decodes and resizes JPEGs on the host; set "
        '--config.data.pipeline=grain')
  if cifar and data_config.image_size:
    raise errors.UserError(
        f"data.pipeline='device' crops 'cifar' back to the images' own size; "
        f'set --config.data.image_size=0 (got {data_config.image_size}) or '
        '--config.data.pipeline=grain')
  return Recipe(crop_padding=CIFAR_PADDING if cifar else 0,
                flip=cifar or bool(data_config.random_flip),
                shift=int(data_config.random_shift), pad_mode=pad_mode)


def apply(images: jax.Array, key: jax.Array, recipe_: Recipe | int) -> jax.Array:
  """`recipe_` applied to a uint8 NHWC batch, each example its own draw.

  An int is a bare random_shift (the step's older signature). The shift
  draws from `key` itself, as before the recipe existed, so a config with
  only random_shift trains bitwise as it did; the crop and the flip draw
  from keys folded from it.
  """
  if isinstance(recipe_, int):
    recipe_ = Recipe(shift=recipe_)
  if recipe_.crop_padding:
    images = random_crop(images, jax.random.fold_in(key, 1),
                         recipe_.crop_padding, recipe_.pad_mode)
  if recipe_.flip:
    images = random_flip(images, jax.random.fold_in(key, 2))
  return random_shift(images, key, recipe_.shift, recipe_.pad_mode)


def random_crop(images: jax.Array, key: jax.Array, padding: int,
                mode: str = 'constant') -> jax.Array:
  """Pads `padding` pixels on each side (np.pad's `mode`), then crops each
  image back to its size at an offset uniform in [0, 2 * padding] on each
  axis: augment.RandomCrop's outcomes and probabilities."""
  if padding <= 0:
    return images
  n, h, w, c = images.shape
  padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding),
                            (0, 0)), mode=mode)
  offsets = jax.random.randint(key, (n, 2), 0, 2 * padding + 1)

  def crop(image, offset):
    return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, c))

  return jax.vmap(crop)(padded, offsets)


def random_flip(images: jax.Array, key: jax.Array) -> jax.Array:
  """Mirrors each image left-right with probability 1/2."""
  flip = jax.random.bernoulli(key, 0.5, (images.shape[0],))
  return jnp.where(flip[:, None, None, None], images[:, :, ::-1], images)


def random_shift(images: jax.Array, key: jax.Array, max_shift: int,
                 mode: str = 'constant') -> jax.Array:
  """Translates each NHWC image by up to max_shift pixels, filling the edge
  by `mode` (zeros by default)."""
  return random_crop(images, key, max_shift, mode)
