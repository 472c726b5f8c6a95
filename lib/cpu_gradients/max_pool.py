"""Max pooling with a gradient XLA's CPU backend runs fast, exact under jit.

JAX differentiates reduce_window max into XLA's select-and-scatter, which
XLA:CPU expands into argmax bookkeeping (four int32 index tensors the size of
the input) and a scatter: 10-20x the cost of the forward pass, the largest
single cost of a CNN train step on CPU (experiments/bench/README.md).

Here the forward pass records, for every window, the position of its first
maximal element in row-major order (select-and-scatter's choice, ties
included) as a small integer tensor the size of the output, and the backward
pass sends each window's cotangent to that position with elementwise
operations XLA fuses. The maximum and its position are computed from one
materialized copy of the input (an optimization barrier): an earlier version
searched for `element == y` in the backward pass, and under jit XLA fused the
input's producer (BatchNorm + ReLU in the ResNet stem) into the forward and
backward passes with different rounding, so some windows matched no element
and lost their gradient. Where windows overlap, an input's shares are summed
in another order than XLA's, so floats may differ in the last bit
(tests/test_whole_model_gradients.py).
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

Pads = tuple[tuple[int, int], tuple[int, int]]


def max_pool(x: jax.Array, window: int, stride: int, padding) -> jax.Array:
  """nn.max_pool(x, (window, window), (stride, stride), padding) on NHWC x."""
  if isinstance(padding, str):
    pads = jax.lax.padtype_to_pads(x.shape[1:3], (window, window),
                                   (stride, stride), padding)
  else:
    pads = padding
  return _max_pool(x, window, stride, tuple(tuple(p) for p in pads))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _max_pool(x: jax.Array, window: int, stride: int, pads: Pads) -> jax.Array:
  return nn.max_pool(x, (window, window), (stride, stride), pads)


def _index_dtype(window: int):
  # Window positions as int8 where they fit: a quarter of int32's bytes made
  # the CNN's step a few percent faster (batches of 128 and 512).
  return jnp.int8 if window * window < 128 else jnp.int32


def _disjoint(window: int, stride: int, pads: Pads) -> bool:
  return stride == window and all(p == 0 for side in pads for p in side)


def _window_axes(x: jax.Array, k: int):
  """Disjoint k x k windows of x as axes 2 and 4 (the ragged edge dropped),
  and each element's row-major position in its window."""
  n, h, w, c = x.shape
  oh, ow = h // k, w // k
  x6 = x[:, :oh * k, :ow * k].reshape(n, oh, k, ow, k, c)
  index = _index_dtype(k)
  pos = (jax.lax.broadcasted_iota(index, (1, 1, k, 1, k, 1), 2) * k +
         jax.lax.broadcasted_iota(index, (1, 1, k, 1, k, 1), 4))
  return x6, pos


def _strided_elements(x: jax.Array, k: int, s: int, pads: Pads):
  """For each of the k*k offsets (i, j) in row-major order, element (i, j) of
  every window: a strided slice of the padded input."""
  (top, bottom), (left, right) = pads
  xp = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)),
               constant_values=-jnp.inf)
  n, hp, wp, c = xp.shape
  oh, ow = (hp - k) // s + 1, (wp - k) // s + 1
  return [jax.lax.slice(xp, (0, i, j, 0),
                        (n, i + (oh - 1) * s + 1, j + (ow - 1) * s + 1, c),
                        (1, s, s, 1))
          for i in range(k) for j in range(k)]


def _max_pool_fwd(x, window, stride, pads):
  k, s = window, stride
  x = jax.lax.optimization_barrier(x)  # One copy for the max and its search.
  index = _index_dtype(k)
  if _disjoint(k, s, pads):
    x6, pos = _window_axes(x, k)
    y6 = jnp.max(x6, axis=(2, 4), keepdims=True)
    first = jnp.min(jnp.where(x6 == y6, pos, index(k * k)), axis=(2, 4),
                    keepdims=True)
    y = y6[:, :, 0, :, 0, :]
  else:
    elements = _strided_elements(x, k, s, pads)
    y = functools.reduce(jnp.maximum, elements)
    first = jnp.full(y.shape, k * k, index)
    for t in reversed(range(k * k)):  # The earliest maximum wins.
      first = jnp.where(elements[t] == y, index(t), first)
  # A window holding NaN matches no element (first = k*k) and passes no
  # gradient; its loss is NaN anyway, and the loop stops that run.
  return y, (first, x.shape)


def _max_pool_bwd(window: int, stride: int, pads: Pads, residuals, g):
  """Each window's cotangent goes to the position the forward pass chose."""
  first, shape = residuals
  n, h, w, c = shape
  k, s = window, stride
  zero = jnp.zeros((), g.dtype)
  if _disjoint(k, s, pads):
    oh, ow = g.shape[1:3]
    _, pos = _window_axes(jnp.zeros((1, k, k, 1), g.dtype), k)
    dx = jnp.where(pos == first, g[:, :, None, :, None, :], zero)
    dx = dx.reshape(n, oh * k, ow * k, c)
    return (jnp.pad(dx, ((0, 0), (0, h - oh * k), (0, w - ow * k), (0, 0))),)
  (top, bottom), (left, right) = pads
  hp, wp = h + top + bottom, w + left + right
  oh, ow = g.shape[1:3]
  dxp = jnp.zeros((n, hp, wp, c), g.dtype)
  for t in range(k * k):  # Each offset adds its share back by padding.
    i, j = divmod(t, k)
    share = jnp.where(first == t, g, zero)
    dxp = dxp + jax.lax.pad(share, zero, (
        (0, 0, 0), (i, hp - i - (oh - 1) * s - 1, s - 1),
        (j, wp - j - (ow - 1) * s - 1, s - 1), (0, 0, 0)))
  return (dxp[:, top:top + h, left:left + w],)


_max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)
