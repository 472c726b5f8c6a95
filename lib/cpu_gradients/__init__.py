"""CPU-tuned gradient rewrites: the one place they live, applied by one switch.

The models in lib/models/ are plain Flax (nn.Conv, nn.max_pool through the
pooling registry, layers in the paper's order). XLA's CPU backend
differentiates some of their layers slowly, so while a train step traces its
loss inside `applied(rewrites)`, these replace how JAX differentiates them,
without changing what is computed (experiments/bench/README.md has the
speed of each, tests/test_whole_model_gradients.py checks every model's
gradient against JAX's own under jit, in float64 and float32):

  max_pool            max pooling's gradient from the window positions the
                      forward pass recorded (max_pool.py)
  conv_barrier        a convolution's input materialized once (conv.py, 1)
  matmul_filter_grad  filter gradients as matrix products (conv.py, 2)
  sliced_filter_grad  filter gradients summed over slices of 128 (conv.py, 3)
  pool_first          layers.ConvBlock with max pooling and a non-decreasing
                      activation pools the convolution's output before the
                      bias and activation (max commutes with both): the
                      bias, the activation and their gradients run on a map
                      window**2 smaller

The config's `train.fast_cpu_gradients` chooses them: 'auto' (all of them on
CPU, none elsewhere: they were measured on CPU only, and on GPU and TPU the
stock XLA gradients run), 'on', 'off', or a comma-separated list of names
for an A/B. The parameters and the model as written stay the same, and
evaluation and inference run the plain model. What can differ in a train
step is rounding: sums in another order (conv.py's filter gradients, the
shares of overlapping pool windows) and, for pool_first, the last bit of
exp-based activations and, at float ties (inputs that round equal once the
bias is added, or saturate the activation; frequent in bfloat16), which
element of a window receives the gradient: as accurate, not bitwise equal.
"""
import contextlib
import contextvars
import functools
from typing import Iterator

import flax.linen as nn
import jax

from lib import activations, errors, layers, pooling
from lib.cpu_gradients import conv, max_pool

REWRITES = ('max_pool', 'conv_barrier', 'matmul_filter_grad',
            'sliced_filter_grad', 'pool_first')
SETTINGS = ('auto', 'on', 'off')
FILTER_GRAD_SLICE = 128  # 64 and 128 measure alike at batch 512.


def resolve(setting: str, backend: str | None = None) -> frozenset[str]:
  """The rewrites `train.fast_cpu_gradients=setting` turns on for `backend`
  (default: JAX's default backend)."""
  if setting == 'auto':
    backend = backend or jax.default_backend()
    return frozenset(REWRITES) if backend == 'cpu' else frozenset()
  if setting == 'on':
    return frozenset(REWRITES)
  if setting == 'off':
    return frozenset()
  names = [n.strip() for n in setting.split(',') if n.strip()]
  if not names:
    raise errors.UserError(
        f'train.fast_cpu_gradients={setting!r} names no rewrite; use one of '
        f'{", ".join(SETTINGS)} or rewrite names ({", ".join(REWRITES)})')
  for n in names:
    if n not in REWRITES:
      raise errors.UserError(
          f'train.fast_cpu_gradients={setting!r}: {n!r} is neither one of '
          f'{", ".join(SETTINGS)} nor a rewrite ({", ".join(REWRITES)})')
  return frozenset(names)


@contextlib.contextmanager
def applied(rewrites: frozenset[str]) -> Iterator[None]:
  """Models traced inside this block are differentiated with `rewrites`."""
  if not rewrites:
    yield
    return
  pools = {'max': max_pool.max_pool} if 'max_pool' in rewrites else {}
  with pooling.overridden(**pools), nn.intercept_methods(
      functools.partial(_intercept, rewrites)):
    yield


# Set by a pool_first ConvBlock for its convolution: (window, stride).
_POOL_IN_CONV = contextvars.ContextVar('pool_in_conv', default=None)


def _intercept(rewrites, next_fun, args, kwargs, context):
  module = context.module
  if context.method_name != '__call__':
    return next_fun(*args, **kwargs)
  if (type(module) is layers.ConvBlock and 'pool_first' in rewrites and
      module.pooling == 'max' and
      module.activation in activations.NON_DECREASING):
    # The block as written (conv -> activation -> pool), with its pool moved
    # into its convolution, before flax adds the bias.
    window, stride = module.pool_size, module.pool_stride
    token = _POOL_IN_CONV.set((window, window if stride is None else stride))
    try:
      with pooling.overridden(max=lambda x, *_: x):
        return next_fun(*args, **kwargs)
    finally:
      _POOL_IN_CONV.reset(token)
  if (isinstance(module, nn.Conv) and module.conv_general_dilated is None and
      module.conv_general_dilated_cls is None):
    convolve = _convolution(rewrites)
    if pool := _POOL_IN_CONV.get():
      _POOL_IN_CONV.set(None)  # For this block's one convolution only.
      convolve = _then_max_pool(convolve, *pool, 'max_pool' in rewrites)
    # flax's Conv calls its `conv_general_dilated` field when set: set it on
    # this bound instance for this call only (object.__setattr__, as flax's
    # frozen modules refuse assignment).
    object.__setattr__(module, 'conv_general_dilated', convolve)
    try:
      return next_fun(*args, **kwargs)
    finally:
      object.__setattr__(module, 'conv_general_dilated', None)
  return next_fun(*args, **kwargs)


def _convolution(rewrites):
  options = dict(barrier='conv_barrier' in rewrites,
                 matmul='matmul_filter_grad' in rewrites,
                 slice_size=FILTER_GRAD_SLICE if 'sliced_filter_grad' in rewrites else 0)
  if not any(options.values()):
    return jax.lax.conv_general_dilated
  return functools.partial(conv.conv_general_dilated, **options)


def _then_max_pool(convolve, window, stride, fast):
  pool = max_pool.max_pool if fast else (
      lambda x, w, s, p: nn.max_pool(x, (w, w), (s, s), p))

  def convolve_then_pool(*args, **kwargs):
    return pool(convolve(*args, **kwargs), window, stride, 'VALID')
  return convolve_then_pool
