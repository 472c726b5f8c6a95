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

Then, on the float images and their labels, mixup and cutmix
(`apply_mixing(..., mixing(data_config))`, the section at the end).

CIFAR-10's training split is 150 MB of uint8 (airbench keeps it on the GPU
and augments there too); per-example host code could not feed a step of a
few milliseconds.
"""
import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from lib import errors, losses

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


# Mixup and cutmix, after the augmentation above, on float images and soft
# targets, as timm's `Mixup` does them in its default 'batch' mode.
#
# Mixup (Zhang et al. 2018) blends each image with another, x * lam +
# x' * (1 - lam); cutmix (Yun et al. 2019) pastes a box of the other image,
# and lam is the part of the image left (timm's `correct_lam`: the box is
# clipped to the image, lam recomputed from its real area). The partner of
# example i is example n-1-i (the batch reversed), one lam for the whole
# batch, lam ~ Beta(alpha, alpha) of the method drawn. With both on, cutmix is
# drawn with probability `switch_prob`. The targets mix the same way: one-hot
# labels, smoothed first (train.label_smoothing, as timm's `mixup_target`),
# then t * lam + t' * (1 - lam).
#
# The step calls `apply_mixing` with the augmentation's key, folded: the
# draws are a function of (seed, step), so stacked seeds draw their own and a
# resume is exact. Written here rather than taken from timm: timm mixes torch
# tensors on the host, and the draws must come from the step's JAX key.


@dataclasses.dataclass(frozen=True)
class Mixing:
  mixup_alpha: float = 0.0   # data.mixup_alpha; 0: off.
  cutmix_alpha: float = 0.0  # data.cutmix_alpha; 0: off.
  switch_prob: float = 0.5   # data.mix_switch_prob: cutmix's share when both are on.

  @property
  def active(self) -> bool:
    return self.mixup_alpha > 0 or self.cutmix_alpha > 0


def mixing(data_config) -> Mixing:
  """The config's mixing; bad values refused in one line each."""
  r = Mixing(float(data_config.mixup_alpha), float(data_config.cutmix_alpha),
             float(data_config.mix_switch_prob))
  for name, value in (('mixup_alpha', r.mixup_alpha),
                      ('cutmix_alpha', r.cutmix_alpha)):
    if not value >= 0:
      raise errors.UserError(
          f'data.{name} must be >= 0 (the Beta(alpha, alpha) of lam; 0: off); '
          f'got {value!r}')
  if not 0 <= r.switch_prob <= 1:
    raise errors.UserError(
        'data.mix_switch_prob must be in [0, 1] (the probability of cutmix '
        f'when mixup and cutmix are both on); got {r.switch_prob!r}')
  return r


class MixDraw(NamedTuple):
  """One batch's draws: lam ~ Beta, whether it is cutmix, the box's centre."""
  lam: jax.Array         # float32 scalar, as drawn (before the box's correction).
  use_cutmix: jax.Array  # bool scalar.
  centre: jax.Array      # int32 [2]: (cy, cx), uniform over the image's pixels.


def draw_mix(key: jax.Array, mixing_: Mixing, height: int, width: int) -> MixDraw:
  """timm's Mixup._params_per_batch and rand_bbox's centre, from `key`."""
  switch_key, lam_key, y_key, x_key = jax.random.split(key, 4)
  m, c = mixing_.mixup_alpha, mixing_.cutmix_alpha
  if m > 0 and c > 0:
    use_cutmix = jax.random.uniform(switch_key) < mixing_.switch_prob
  else:
    use_cutmix = jnp.asarray(c > 0)
  # One Beta draw with the chosen method's alpha: one of jax's rejection
  # samplers to compile, not two (each adds seconds to the step's compile).
  alpha = jnp.where(use_cutmix, c, m)
  lam = jax.random.beta(lam_key, alpha, alpha).astype(jnp.float32)
  centre = jnp.stack([jax.random.randint(y_key, (), 0, height),
                      jax.random.randint(x_key, (), 0, width)])
  return MixDraw(lam, use_cutmix, centre)


def cutmix_box(d: MixDraw, height: int, width: int) -> tuple[jax.Array, jax.Array]:
  """timm's rand_bbox: a box of sides int(side * sqrt(1 - lam)) centred at
  the drawn pixel, clipped to the image; ((y_low, y_high), (x_low, x_high))
  and lam corrected to the box's real area (timm's cutmix_bbox_and_lam).
  In float32 where timm uses float64: a side can differ by a pixel where
  side * sqrt(1 - lam) falls within float32's rounding of an integer."""
  ratio = jnp.sqrt(1 - d.lam)
  sides = jnp.stack([jnp.floor(height * ratio), jnp.floor(width * ratio)])
  half = sides.astype(jnp.int32) // 2
  limits = jnp.array([height, width])
  low = jnp.clip(d.centre - half, 0, limits)
  high = jnp.clip(d.centre + half, 0, limits)
  area = jnp.prod(high - low)
  return jnp.stack([low, high], axis=1), 1 - area / (height * width)


def mix(images: jax.Array, targets: jax.Array, d: MixDraw
        ) -> tuple[jax.Array, jax.Array]:
  """Float NHWC images and their soft targets ([n, classes], or [n] for the
  one-output task) mixed with the batch reversed, as `d` says."""
  h, w = images.shape[1:3]
  partner = images[::-1]
  bounds, lam_box = cutmix_box(d, h, w)
  rows, cols = jnp.arange(h), jnp.arange(w)
  inside = (((rows >= bounds[0, 0]) & (rows < bounds[0, 1]))[:, None] &
            ((cols >= bounds[1, 0]) & (cols < bounds[1, 1]))[None, :])
  cut = jnp.where(inside[None, :, :, None], partner, images)
  blended = images * d.lam + partner * (1 - d.lam)
  images = jnp.where(d.use_cutmix, cut, blended)
  lam = jnp.where(d.use_cutmix, lam_box, d.lam).astype(targets.dtype)
  return images, targets * lam + targets[::-1] * (1 - lam)


# `apply` above draws from the key itself and its folds 1 and 2.
MIX_KEY_FOLD = 0x6d6978  # 'mix'


def apply_mixing(images: jax.Array, labels: jax.Array, key: jax.Array,
                 mixing_: Mixing, num_outputs: int, label_smoothing: float = 0.0
                 ) -> tuple[jax.Array, jax.Array]:
  """The step's one call, on float NHWC images and integer labels: the
  images mixed and the labels as mixed soft targets (smoothed first), from
  a key folded from the augmentation's `key`; both unchanged when
  `mixing_` is off (the step then trains on the integer labels as before)."""
  if not mixing_.active:
    return images, labels
  targets = losses.soft_targets(labels, num_outputs, label_smoothing)
  return mix(images, targets, draw_mix(jax.random.fold_in(key, MIX_KEY_FOLD),
                                       mixing_, *images.shape[1:3]))
