"""The models' convolution: flax's nn.Conv, with a gradient XLA runs faster on CPU.

`Conv` is nn.Conv (same parameters, same forward values) whose gradient is
computed in three ways XLA's CPU backend handles better than its own
(measured with experiments.bench.xla_flags_study, experiments/bench/README.md):

1. The convolution's input is materialized once when the train step
   differentiates it. Without this hint, XLA fuses the elementwise producers
   of the input (BatchNorm, activation, the residual additions of a whole
   ResNet stage) into every consumer, including the transposing copy that
   the filter gradient needs; that copy then recomputes the chain for every
   element with strided reads. ResNet-20's train step runs 1.5x faster,
   ResNet-50's 1.3x; gradients are unchanged bit for bit.
2. A 1x1 kernel's gradient is one matrix product (POINTWISE_AS_MATMUL).
   XLA runs it as a convolution whose window is the whole image, 10-30x
   slower: it was 36% of ResNet-50's step.
3. The filter gradient of a batch larger than FILTER_GRAD_SLICE examples is
   summed over slices of that many: XLA's CPU filter-gradient convolution
   slows down per example as the batch grows (3x for the CNN's second conv
   from batch 128 to 512).

2 and 3 change only the order of a float sum (tests/test_fast_gradients.py).
Without differentiation (evaluation, inference) the plain convolution runs.
"""
import functools
import inspect

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

_CONV_PARAMS = inspect.signature(lax.conv_general_dilated)


def conv_general_dilated(lhs: jax.Array, rhs: jax.Array, *args, **kwargs) -> jax.Array:
  """lax.conv_general_dilated, its input behind an optimization barrier in
  the forward pass of a differentiated step."""
  conv = lambda l, r: lax.conv_general_dilated(l, r, *args, **kwargs)
  call = _CONV_PARAMS.bind(lhs, rhs, *args, **kwargs)
  call.apply_defaults()
  settings = dict(call.arguments)

  @jax.custom_vjp
  def barrier_conv(l, r):
    return conv(l, r)

  def forward(l, r):
    l = lax.optimization_barrier(l)
    return conv(l, r), (l, r)

  def backward(residuals, g):
    l, r = residuals
    (dl,) = jax.linear_transpose(lambda l: conv(l, r), l)(g)
    return dl, _filter_gradient(conv, l, r, g, settings)

  barrier_conv.defvjp(forward, backward)
  return barrier_conv(lhs, rhs)


def _filter_gradient(conv, l, r, g, settings: dict):
  """The kernel's cotangent: a matrix product for 1x1 kernels, else summed
  over slices of FILTER_GRAD_SLICE examples when the batch is a larger
  multiple of it."""
  numbers = lax.conv_dimension_numbers(l.shape, r.shape,
                                       settings['dimension_numbers'])
  plain = (settings['feature_group_count'] == 1 and
           settings['batch_group_count'] == 1 and
           all(d == 1 for d in settings['lhs_dilation'] or ()))
  if (POINTWISE_AS_MATMUL and plain and
      all(r.shape[d] == 1 for d in numbers.rhs_spec[2:])):
    pointwise = _pointwise_filter_gradient(l, r, g, numbers, settings)
    if pointwise is not None:
      return pointwise
  n = l.shape[0]
  k = n // FILTER_GRAD_SLICE if FILTER_GRAD_SLICE else 1
  if k < 2 or n % FILTER_GRAD_SLICE or numbers.lhs_spec[0] != 0 or not plain:
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


def _pointwise_filter_gradient(l, r, g, numbers, settings):
  """A 1x1 kernel's cotangent as one matrix product, sum over examples and
  pixels of input x output channels; None when padding makes it a real
  convolution.

  XLA hands this gradient to YNNPACK as a convolution whose window is the
  whole image: ResNet-50's 1x1 filter gradients took 36% of its step, 10-30x
  what the same product takes as a matmul.
  """
  spatial = numbers.lhs_spec[2:]
  padding = settings['padding']
  if isinstance(padding, str):
    padding = lax.padtype_to_pads([l.shape[d] for d in spatial],
                                  [1] * len(spatial), settings['window_strides'],
                                  padding)
  if any(lo or hi for lo, hi in padding):
    return None
  # The input pixels the 1x1 windows read: every stride-th, as many as g has.
  limits = list(l.shape)
  strides = [1] * l.ndim
  for d, out_d, s in zip(spatial, numbers.out_spec[2:], settings['window_strides']):
    limits[d] = (g.shape[out_d] - 1) * s + 1
    strides[d] = s
  x = lax.slice(l, [0] * l.ndim, limits, strides)
  # Contract batch and pixels: (in channels) x (out channels).
  x_rest = [numbers.lhs_spec[0], *spatial]
  g_rest = [numbers.out_spec[0], *numbers.out_spec[2:]]
  # XLA transposes the product's left operand into place: make that the
  # smaller of the two (ResNet-50's bottleneck expansions have 4x more
  # output than input channels).
  x_big = x.size > g.size
  a, b, rest = (g, x, (g_rest, x_rest)) if x_big else (x, g, (x_rest, g_rest))
  dr = lax.dot_general(a, b, (rest, ((), ())), preferred_element_type=jnp.float32)
  dr = dr.T if x_big else dr
  # (in, out, 1, 1, ...) into the kernel's own dimension order.
  dr = dr.reshape(dr.shape + (1,) * len(spatial)).astype(r.dtype)
  order = [numbers.rhs_spec[1], numbers.rhs_spec[0], *numbers.rhs_spec[2:]]
  return jnp.transpose(dr, [order.index(d) for d in range(r.ndim)])


POINTWISE_AS_MATMUL = True  # False: XLA's own filter gradient for 1x1 too.
FILTER_GRAD_SLICE = 128  # 0: never slice. 64 and 128 measure alike at 512;
                         # slicing a batch of 128 gains nothing.

Conv = functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)
