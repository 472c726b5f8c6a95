"""Pooling registry: 'max', 'mean' or 'none', chosen by name in every model."""
from typing import Callable

import flax.linen as nn
import jax

from lib import errors


def _max(x: jax.Array, window: int, stride: int, padding: str) -> jax.Array:
  return nn.max_pool(x, (window, window), (stride, stride), padding)


def _mean(x: jax.Array, window: int, stride: int, padding: str) -> jax.Array:
  # count_include_pad=False: border windows average only real pixels, as
  # torch's AvgPool2d(count_include_pad=False) and the papers' mean pooling.
  return nn.avg_pool(x, (window, window), (stride, stride), padding,
                     count_include_pad=False)


def _none(x: jax.Array, window: int, stride: int, padding: str) -> jax.Array:
  del window, stride, padding
  return x


Pool = Callable[[jax.Array, int, int, str], jax.Array]

POOLINGS: dict[str, Pool] = {'max': _max, 'mean': _mean, 'none': _none}


def get(name: str) -> Pool:
  try:
    return POOLINGS[name]
  except KeyError:
    raise errors.unknown_name('pooling', name, POOLINGS) from None


def pool(name: str, x: jax.Array, window: int = 2, stride: int | None = None,
         padding: str = 'VALID') -> jax.Array:
  """Pools NHWC `x` with a square window; stride defaults to the window."""
  return get(name)(x, window, window if stride is None else stride, padding)
