"""Pooling registry: 'max', 'mean' or 'none', chosen by name in every model.

The registry holds flax's own pooling. lib/cpu_gradients may replace an
entry while it traces a train step (`overridden`), to differentiate it
another way; models never see the difference.
"""
import contextlib
import contextvars
from typing import Callable, Iterator

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

_OVERRIDES = contextvars.ContextVar('pooling_overrides', default={})


@contextlib.contextmanager
def overridden(**pools: Pool) -> Iterator[None]:
  """Within this block, `get(name)` returns pools[name] for the names given."""
  token = _OVERRIDES.set({**_OVERRIDES.get(), **pools})
  try:
    yield
  finally:
    _OVERRIDES.reset(token)


def get(name: str) -> Pool:
  if name not in POOLINGS:
    raise errors.unknown_name('pooling', name, POOLINGS)
  return _OVERRIDES.get().get(name, POOLINGS[name])


def pool(name: str, x: jax.Array, window: int = 2, stride: int | None = None,
         padding='VALID') -> jax.Array:
  """Pools NHWC `x` with a square window; stride defaults to the window."""
  return get(name)(x, window, window if stride is None else stride, padding)
