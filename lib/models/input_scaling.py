"""Per-channel input standardization, for weights trained on standardized images.

The step hands models images in [0, 1] (lib/train_step.py to_float).
torchvision's and timm's ImageNet weights were trained on (x - mean) / std
with ImageNet's statistics; a model given `input_mean`/`input_std` applies
that first, so training, evaluation, predictions and pictures all see what
the weights expect. Empty (the default) leaves images as they are.
"""
from typing import Sequence

import jax
import jax.numpy as jnp

from lib import errors

# torchvision's transforms.Normalize values for its ImageNet weights (and
# timm's for its ResNets); one gray channel takes their means.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_GRAY_MEAN = (sum(IMAGENET_MEAN) / 3,)
IMAGENET_GRAY_STD = (sum(IMAGENET_STD) / 3,)


def standardize(x: jax.Array, mean: Sequence[float],
                std: Sequence[float]) -> jax.Array:
  """(x - mean) / std over the channel axis; x unchanged if both are empty."""
  if not mean and not std:
    return x
  channels = x.shape[-1]
  if len(mean) != len(std) or len(mean) not in (1, channels):
    raise errors.UserError(
        f'model.input_mean {tuple(mean)} and model.input_std {tuple(std)} '
        f'need one value each per channel ({channels}) or one in all')
  return ((x - jnp.asarray(mean, x.dtype)) / jnp.asarray(std, x.dtype))
