"""The models' convolution: flax's nn.Conv, with two changes for training speed.

`Conv` is nn.Conv (same parameters, same forward values) whose gradient XLA
computes faster on CPU:

1. The convolution's input is materialized once when the train step
   differentiates it. Without this hint, XLA's CPU compiler fuses the
   elementwise producers of the input (BatchNorm, activation, the residual
   additions of a whole ResNet stage) into every consumer, including the
   transposing copy that the filter gradient needs; that copy then recomputes
   the chain for every element with strided reads. ResNet-20's train step
   runs 1.5x faster, ResNet-50's 1.3x; gradients are unchanged bit for bit.
2. The filter gradient of a batch larger than FILTER_GRAD_SLICE examples is
   summed over slices of that many: XLA's CPU filter-gradient convolution
   slows down per example as the batch grows (3x for the CNN's second conv
   from batch 128 to 512). CNN at batch 512: 1.5x faster; LeNet-5 1.2x,
   ResNet-20 1.15x. The sum is the same up to float rounding (its order).

Both are measured in experiments/bench/README.md. Without differentiation
(evaluation, inference) the plain convolution runs.
"""
import functools

import flax.linen as nn
import jax
from jax import lax


def conv_general_dilated(lhs: jax.Array, rhs: jax.Array, *args, **kwargs) -> jax.Array:
  """lax.conv_general_dilated, its input behind an optimization barrier in
  the forward pass of a differentiated step."""
  conv = lambda l, r: lax.conv_general_dilated(l, r, *args, **kwargs)
  numbers = kwargs.get('dimension_numbers', args[5] if len(args) > 5 else None)
  batch_first = (lax.conv_dimension_numbers(lhs.shape, rhs.shape, numbers).lhs_spec[0] == 0
                 and kwargs.get('batch_group_count', 1) == 1)

  @jax.custom_vjp
  def barrier_conv(l, r):
    return conv(l, r)

  def forward(l, r):
    l = lax.optimization_barrier(l)
    return conv(l, r), (l, r)

  def backward(residuals, g):
    l, r = residuals
    (dl,) = jax.linear_transpose(lambda l: conv(l, r), l)(g)
    return dl, _filter_gradient(conv, l, r, g, batch_first)

  barrier_conv.defvjp(forward, backward)
  return barrier_conv(lhs, rhs)


def _filter_gradient(conv, l, r, g, batch_first: bool):
  """The kernel's cotangent, summed over slices of FILTER_GRAD_SLICE examples
  when the batch is a larger multiple of it."""
  n = l.shape[0]
  k = n // FILTER_GRAD_SLICE if FILTER_GRAD_SLICE else 1
  if k < 2 or n % FILTER_GRAD_SLICE or not batch_first:
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


FILTER_GRAD_SLICE = 128  # 0: never slice. 64 and 128 measure alike at 512;
                         # slicing a batch of 128 gains nothing.

Conv = functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)
