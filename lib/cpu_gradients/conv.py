"""A convolution gradient XLA's CPU backend runs faster than its own.

`conv_general_dilated` is lax.conv_general_dilated (same forward values)
whose gradient is computed in up to three ways XLA's CPU backend handles
better than its own (measured with experiments.bench.xla_flags_study,
experiments/bench/README.md):

1. barrier: the convolution's input is materialized once when the train
   step differentiates it. Without this hint, XLA fuses the elementwise
   producers of the input (BatchNorm, activation, the residual additions of a
   whole ResNet stage) into every consumer, including the transposing copy
   that the filter gradient needs; that copy then recomputes the chain for
   every element with strided reads. Gradients are unchanged bit for bit.
2. matmul: the filter gradient is a matrix product where XLA's way is slow:
   for 1x1 kernels, which XLA runs as a convolution whose window is the whole
   image, 10-30x slower (it was 36% of ResNet-50's step); and for layers with
   few input channels (taps x input channels <= output channels, e.g. the
   CNN's 3x3 conv from 1 channel to 32), as the input's patches times the
   output's gradient, 3-4x faster.
3. slice: the filter gradient of a batch larger than `slice_size` examples
   is summed over slices of that many: XLA's CPU filter-gradient convolution
   slows down per example as the batch grows (3x for the CNN's second conv
   from batch 128 to 512).

2 and 3 change only the order of a float sum; products accumulate in the
input's precision (float32 for bfloat16, float64 for float64).
"""
import inspect
import itertools
import math

import jax
import jax.numpy as jnp
from jax import lax

_CONV_PARAMS = inspect.signature(lax.conv_general_dilated)


def conv_general_dilated(lhs: jax.Array, rhs: jax.Array, *args,
                         barrier: bool = True, matmul: bool = True,
                         slice_size: int = 128, **kwargs) -> jax.Array:
  """lax.conv_general_dilated, differentiated as the module docstring says;
  slice_size=0 never slices."""
  conv = lambda l, r: lax.conv_general_dilated(l, r, *args, **kwargs)
  call = _CONV_PARAMS.bind(lhs, rhs, *args, **kwargs)
  call.apply_defaults()
  settings = dict(call.arguments)

  @jax.custom_vjp
  def barrier_conv(l, r):
    return conv(l, r)

  def forward(l, r):
    if barrier:
      l = lax.optimization_barrier(l)
    return conv(l, r), (l, r)

  def backward(residuals, g):
    l, r = residuals
    (dl,) = jax.linear_transpose(lambda l: conv(l, r), l)(g)
    return dl, _filter_gradient(conv, l, r, g, settings, matmul, slice_size)

  barrier_conv.defvjp(forward, backward)
  return barrier_conv(lhs, rhs)


def _filter_gradient(conv, l, r, g, settings: dict, matmul: bool,
                     slice_size: int):
  """The kernel's cotangent: a matrix product for 1x1 kernels and for layers
  with few input channels, else XLA's, summed over slices of `slice_size`
  examples when the batch is a larger multiple of it."""
  numbers = lax.conv_dimension_numbers(l.shape, r.shape,
                                       settings['dimension_numbers'])
  plain = (settings['feature_group_count'] == 1 and
           settings['batch_group_count'] == 1 and
           all(d == 1 for d in settings['lhs_dilation'] or ()))
  window = [r.shape[d] for d in numbers.rhs_spec[2:]]
  taps, in_features = math.prod(window), r.shape[numbers.rhs_spec[1]]
  if matmul and plain:
    if taps == 1:
      dr = _pointwise_filter_gradient(l, r, g, numbers, settings)
    elif taps * in_features <= r.shape[numbers.rhs_spec[0]]:
      dr = _patch_filter_gradient(l, r, g, numbers, settings)
    else:
      dr = None
    if dr is not None:
      return dr
  n = l.shape[0]
  k = n // slice_size if slice_size else 1
  if k < 2 or n % slice_size or numbers.lhs_spec[0] != 0 or not plain:
    (dr,) = jax.linear_transpose(lambda r: conv(l, r), r)(g)
    return dr
  # Slice j holds examples j, j+k, j+2k, ...: rows stay on their device.
  split = lambda x: x.reshape(n // k, k, *x.shape[1:])
  ls, gs, dr = split(l), split(g), None
  for j in range(k):
    lj = ls[:, j]
    (d,) = jax.linear_transpose(lambda r: conv(lj, r), r)(gs[:, j])
    d = d.astype(_accumulator(l))  # bfloat16 slices add up in float32.
    dr = d if dr is None else dr + d
  return dr.astype(r.dtype)


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
  dr = lax.dot_general(a, b, (rest, ((), ())), preferred_element_type=_accumulator(l))
  dr = dr.T if x_big else dr
  # (in, out, 1, 1, ...) into the kernel's own dimension order.
  dr = dr.reshape(dr.shape + (1,) * len(spatial)).astype(r.dtype)
  order = [numbers.rhs_spec[1], numbers.rhs_spec[0], *numbers.rhs_spec[2:]]
  return jnp.transpose(dr, [order.index(d) for d in range(r.ndim)])


def _patch_filter_gradient(l, r, g, numbers, settings):
  """The cotangent of a kernel with few input channels, as one matrix
  product of the input's patches (taps x input channels rows, one column per
  example and output pixel) with the output's gradient; None for negative
  padding.

  Taken when the patch matrix is no larger than the output gradient (taps x
  input channels <= output channels), e.g. a 3x3 conv from 1 channel to 32:
  XLA runs it as a convolution of transposed copies, 3-4x slower. Where the
  patches would be larger (LeNet-5's 5x5 from 1 to 6 channels, RGB stems)
  XLA's own is faster, measured.
  """
  spatial = numbers.lhs_spec[2:]
  window = [r.shape[d] for d in numbers.rhs_spec[2:]]
  dilation = settings['rhs_dilation'] or (1,) * len(spatial)
  strides = settings['window_strides']
  padding = settings['padding']
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(
        [l.shape[d] for d in spatial],
        [(k - 1) * d + 1 for k, d in zip(window, dilation)], strides, padding)
  if any(lo < 0 or hi < 0 for lo, hi in padding):
    return None
  # Input as (channels, batch, *pixels); gradient as (batch, *pixels, out).
  x = jnp.transpose(l, (numbers.lhs_spec[1], numbers.lhs_spec[0], *spatial))
  x = jnp.pad(x, ((0, 0), (0, 0), *padding))
  out = jnp.transpose(g, (numbers.out_spec[0], *numbers.out_spec[2:],
                          numbers.out_spec[1]))
  taps = []
  for offset in itertools.product(*(range(k) for k in window)):
    start = [0, 0, *(o * d for o, d in zip(offset, dilation))]
    limit = [*x.shape[:2], *((n - 1) * s + b + 1 for n, s, b in
                             zip(out.shape[1:-1], strides, start[2:]))]
    taps.append(lax.slice(x, start, limit, [1, 1, *strides]))
  patches = jnp.stack(taps).reshape(len(taps) * x.shape[0], -1)
  dr = jnp.dot(patches, out.reshape(-1, out.shape[-1]),
               preferred_element_type=_accumulator(l))
  # (*window, in, out) into the kernel's own dimension order.
  dr = dr.reshape(*window, x.shape[0], out.shape[-1]).astype(r.dtype)
  order = [*numbers.rhs_spec[2:], numbers.rhs_spec[1], numbers.rhs_spec[0]]
  return jnp.transpose(dr, [order.index(d) for d in range(r.ndim)])


def _accumulator(x: jax.Array):
  """The products' accumulation type: at least float32, float64 for float64."""
  return jnp.promote_types(x.dtype, jnp.float32)
