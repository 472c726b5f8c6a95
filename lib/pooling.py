"""Pooling registry: 'max', 'mean' or 'none', chosen by name in every model.

The registry holds flax's own pooling. A model built for a CPU train step
(lib/models build(..., rewrites=...)) passes its `max_pool` field here: the
same maximum, differentiated another way (lib/cpu_gradients/max_pool.py).
"""
from typing import Callable

import flax.linen as nn
import jax

from lib import errors


def _max(x: jax.Array, window: int, stride: int, padding) -> jax.Array:
  return nn.max_pool(x, (window, window), (stride, stride), padding)


def _mean(x: jax.Array, window: int, stride: int, padding) -> jax.Array:
  # count_include_pad=False: border windows average only real pixels, as
  # torch's AvgPool2d(count_include_pad=False) and the papers' mean pooling.
  return nn.avg_pool(x, (window, window), (stride, stride), padding,
                     count_include_pad=False)


def _none(x: jax.Array, window: int, stride: int, padding) -> jax.Array:
  del window, stride, padding
  return x


Pool = Callable[[jax.Array, int, int, str], jax.Array]

POOLINGS: dict[str, Pool] = {'max': _max, 'mean': _mean, 'none': _none}

def get(name: str, max_pool: Pool | None = None) -> Pool:
  """The pooling called `name`; `max_pool`, when given, is used for 'max'."""
  if name not in POOLINGS:
    raise errors.unknown_name('pooling', name, POOLINGS)
  return max_pool if name == 'max' and max_pool is not None else POOLINGS[name]


def pool(name: str, x: jax.Array, window: int = 2, stride: int | None = None,
         padding='VALID', max_pool: Pool | None = None) -> jax.Array:
  """Pools NHWC `x` with a square window; stride defaults to the window."""
  return get(name, max_pool)(x, window, window if stride is None else stride,
                             padding)
