"""The models' convolution: flax's nn.Conv, with one hint to XLA for training.

`Conv` is nn.Conv (same parameters, same forward values, same gradients,
bit for bit) whose convolution's input is materialized once when the train
step differentiates it. Without the hint, XLA's CPU compiler fuses the
elementwise producers of a convolution's input (BatchNorm, activation, the
residual additions of a whole ResNet stage) into every consumer, including
the transposing copy that its filter gradient needs; that copy then
recomputes the chain for every element with strided reads. The barrier makes
the input one array, computed once: ResNet-20's train step 1.45x faster,
ResNet-50's 1.3x, the other models unchanged (experiments/results/bench_ablation.md).
Without differentiation (evaluation, inference) the plain convolution runs.
"""
import functools

import flax.linen as nn
import jax
from jax import lax


def conv_general_dilated(lhs: jax.Array, rhs: jax.Array, *args, **kwargs) -> jax.Array:
  """lax.conv_general_dilated, its input behind an optimization barrier in
  the forward pass of a differentiated step."""
  conv = lambda l, r: lax.conv_general_dilated(l, r, *args, **kwargs)

  @jax.custom_vjp
  def barrier_conv(l, r):
    return conv(l, r)

  def forward(l, r):
    l = lax.optimization_barrier(l)
    return conv(l, r), (l, r)

  def backward(residuals, g):
    l, r = residuals
    (dl,) = jax.linear_transpose(lambda l: conv(l, r), l)(g)
    return dl, _filter_gradient(conv, l, r, g)

  barrier_conv.defvjp(forward, backward)
  return barrier_conv(lhs, rhs)


def _filter_gradient(conv, l, r, g):
  """d(loss)/d(kernel), summed over slices of FILTER_GRAD_SLICE examples."""
  n = l.shape[0]
  k = n // FILTER_GRAD_SLICE if FILTER_GRAD_SLICE else 1
  if k < 2 or n % FILTER_GRAD_SLICE:
    (dr,) = jax.linear_transpose(lambda r: conv(l, r), r)(g)
    return dr
  # Slice j holds examples j, j+k, j+2k, ...: rows stay on their device.
  split = lambda x: x.reshape(n // k, k, *x.shape[1:])
  ls, gs, dr = split(l), split(g), None
  for j in range(k):
    lj = ls[:, j]
    (d,) = jax.linear_transpose(lambda r: conv(lj, r), r)(gs[:, j])
    dr = d if dr is None else dr + d
  return dr


FILTER_GRAD_SLICE = 64

Conv = functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)
