"""Pooling registry: 'max', 'mean' or 'none', chosen by name in every model.

Max pooling's forward pass is flax's (lax.reduce_window); its gradient is our
own. JAX differentiates reduce_window max into XLA's select-and-scatter, which
XLA's CPU backend expands into argmax bookkeeping (four int32 index tensors
the size of the input) and a scatter: 10-20x the cost of the forward pass,
the largest single cost of a CNN train step on CPU (experiments/bench). The
custom gradient below routes the same way, the whole cotangent of each
window to its first maximal element in row-major order (as
select-and-scatter does, ties included), with elementwise operations XLA
fuses. Where windows overlap, an input's shares are summed in another order,
so float results may differ in the last bit (tests/test_fast_gradients.py).
"""
import functools
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib import errors

Pads = tuple[tuple[int, int], tuple[int, int]]


def _max(x: jax.Array, window: int, stride: int, padding) -> jax.Array:
  if isinstance(padding, str):
    pads = jax.lax.padtype_to_pads(x.shape[1:3], (window, window),
                                   (stride, stride), padding)
  else:
    pads = padding
  return _max_pool(x, window, stride, tuple(tuple(p) for p in pads))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _max_pool(x: jax.Array, window: int, stride: int, pads: Pads) -> jax.Array:
  return nn.max_pool(x, (window, window), (stride, stride), pads)


def _max_pool_fwd(x, window, stride, pads):
  y = _max_pool(x, window, stride, pads)
  return y, (x, y)


def _max_pool_bwd(window: int, stride: int, pads: Pads, residuals, g):
  """The cotangent of each window goes to its first maximum (row-major)."""
  x, y = residuals
  n, h, w, c = x.shape
  oh, ow = y.shape[1:3]
  (top, bottom), (left, right) = pads
  k, s = window, stride
  # Window positions as int8 where they fit: the index tensor is the size
  # of the pooled map, and a quarter of its bytes made the CNN's step a few
  # percent faster (an A/B of the two on batches of 128 and 512).
  index = jnp.int8 if k * k < 128 else jnp.int32
  if s == k and top == bottom == left == right == 0:
    # Disjoint windows: view them as axes 2 and 4 and pick in place.
    x6 = x[:, :oh * k, :ow * k].reshape(n, oh, k, ow, k, c)
    y6, g6 = y[:, :, None, :, None, :], g[:, :, None, :, None, :]
    pos = (jax.lax.broadcasted_iota(index, (1, 1, k, 1, k, 1), 2) * k +
           jax.lax.broadcasted_iota(index, (1, 1, k, 1, k, 1), 4))
    first = jnp.min(jnp.where(x6 == y6, pos, index(k * k)), axis=(2, 4),
                    keepdims=True)
    dx = jnp.where(pos == first, g6, jnp.zeros((), g.dtype))
    dx = dx.reshape(n, oh * k, ow * k, c)
    return (jnp.pad(dx, ((0, 0), (0, h - oh * k), (0, w - ow * k), (0, 0))),)
  # Overlapping or padded windows: element (i, j) of every window is a
  # strided slice of the padded input; each adds its share back by padding.
  xp = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)),
               constant_values=-jnp.inf)
  hp, wp = xp.shape[1:3]
  offsets = [(i, j) for i in range(k) for j in range(k)]

  def element(i, j):
    return jax.lax.slice(xp, (0, i, j, 0),
                         (n, i + (oh - 1) * s + 1, j + (ow - 1) * s + 1, c),
                         (1, s, s, 1))

  first = jnp.full(y.shape, k * k, index)
  for t in reversed(range(k * k)):  # The earliest maximum wins.
    first = jnp.where(element(*offsets[t]) == y, index(t), first)
  zero = jnp.zeros((), g.dtype)
  dxp = jnp.zeros(xp.shape, g.dtype)
  for t, (i, j) in enumerate(offsets):
    share = jnp.where(first == t, g, zero)
    dxp = dxp + jax.lax.pad(share, zero, (
        (0, 0, 0), (i, hp - i - (oh - 1) * s - 1, s - 1),
        (j, wp - j - (ow - 1) * s - 1, s - 1), (0, 0, 0)))
  return (dxp[:, top:top + h, left:left + w],)


_max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)


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
