"""Mixup and cutmix inside the compiled train step, as timm's `Mixup` does
them in its default 'batch' mode.

Mixup (Zhang et al. 2018) blends each image with another, x * lam +
x' * (1 - lam); cutmix (Yun et al. 2019) pastes a box of the other image,
and lam is the part of the image left (timm's `correct_lam`: the box is
clipped to the image, lam recomputed from its real area). The partner of
example i is example n-1-i (the batch reversed), one lam for the whole
batch, lam ~ Beta(alpha, alpha) of the method drawn. With both on, cutmix is
drawn with probability `switch_prob`. The targets mix the same way: one-hot
labels, smoothed first (train.label_smoothing, as timm's `mixup_target`),
then t * lam + t' * (1 - lam).

The step calls `apply` with its own key, after the device augmentation: the
draws are a function of (seed, step), so stacked seeds draw their own and a
resume is exact. Written here rather than taken from timm: timm mixes torch
tensors on the host, and the draws must come from the step's JAX key.
"""
import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from lib import errors, losses


@dataclasses.dataclass(frozen=True)
class Recipe:
  mixup_alpha: float = 0.0   # data.mixup_alpha; 0: off.
  cutmix_alpha: float = 0.0  # data.cutmix_alpha; 0: off.
  switch_prob: float = 0.5   # data.mix_switch_prob: cutmix's share when both are on.

  @property
  def active(self) -> bool:
    return self.mixup_alpha > 0 or self.cutmix_alpha > 0


def recipe(data_config) -> Recipe:
  """The config's mixing; bad values refused in one line each."""
  r = Recipe(float(data_config.mixup_alpha), float(data_config.cutmix_alpha),
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


class Draw(NamedTuple):
  """One batch's draws: lam ~ Beta, whether it is cutmix, the box's centre."""
  lam: jax.Array         # float32 scalar, as drawn (before the box's correction).
  use_cutmix: jax.Array  # bool scalar.
  centre: jax.Array      # int32 [2]: (cy, cx), uniform over the image's pixels.


def draw(key: jax.Array, recipe_: Recipe, height: int, width: int) -> Draw:
  """timm's Mixup._params_per_batch and rand_bbox's centre, from `key`."""
  switch_key, lam_key, y_key, x_key = jax.random.split(key, 4)
  m, c = recipe_.mixup_alpha, recipe_.cutmix_alpha
  if m > 0 and c > 0:
    use_cutmix = jax.random.uniform(switch_key) < recipe_.switch_prob
  else:
    use_cutmix = jnp.asarray(c > 0)
  # One Beta draw with the chosen method's alpha: one of jax's rejection
  # samplers to compile, not two (each adds seconds to the step's compile).
  alpha = jnp.where(use_cutmix, c, m)
  lam = jax.random.beta(lam_key, alpha, alpha).astype(jnp.float32)
  centre = jnp.stack([jax.random.randint(y_key, (), 0, height),
                      jax.random.randint(x_key, (), 0, width)])
  return Draw(lam, use_cutmix, centre)


def box(d: Draw, height: int, width: int) -> tuple[jax.Array, jax.Array]:
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


def mix(images: jax.Array, targets: jax.Array, d: Draw
        ) -> tuple[jax.Array, jax.Array]:
  """Float NHWC images and their soft targets ([n, classes], or [n] for the
  one-output task) mixed with the batch reversed, as `d` says."""
  h, w = images.shape[1:3]
  partner = images[::-1]
  bounds, lam_box = box(d, h, w)
  rows, cols = jnp.arange(h), jnp.arange(w)
  inside = (((rows >= bounds[0, 0]) & (rows < bounds[0, 1]))[:, None] &
            ((cols >= bounds[1, 0]) & (cols < bounds[1, 1]))[None, :])
  cut = jnp.where(inside[None, :, :, None], partner, images)
  blended = images * d.lam + partner * (1 - d.lam)
  images = jnp.where(d.use_cutmix, cut, blended)
  lam = jnp.where(d.use_cutmix, lam_box, d.lam).astype(targets.dtype)
  return images, targets * lam + targets[::-1] * (1 - lam)


# The device augmentation draws from the key itself and its folds 1 and 2.
KEY_FOLD = 0x6d6978  # 'mix'


def apply(images: jax.Array, labels: jax.Array, key: jax.Array,
          recipe_: Recipe, num_outputs: int, label_smoothing: float = 0.0
          ) -> tuple[jax.Array, jax.Array]:
  """The step's one call, on float NHWC images and integer labels: the
  images mixed and the labels as mixed soft targets (smoothed first), from
  a key folded from the augmentation's `key`; both unchanged when the
  recipe is off (the step then trains on the integer labels as before)."""
  if not recipe_.active:
    return images, labels
  targets = losses.soft_targets(labels, num_outputs, label_smoothing)
  return mix(images, targets, draw(jax.random.fold_in(key, KEY_FOLD), recipe_,
                                   *images.shape[1:3]))
