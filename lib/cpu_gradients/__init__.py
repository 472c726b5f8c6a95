"""CPU-tuned gradient rewrites: the one place they live, applied by one switch.

The models in lib/models/ are plain Flax (nn.Conv, nn.max_pool through the
pooling registry, layers in the paper's order). XLA's CPU backend
differentiates some of their layers slowly, so the model a train step
differentiates is built with these (lib/models build(..., rewrites=...)):
they replace how JAX differentiates those layers without changing what is
computed (experiments/bench/README.md has the
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
for an A/B. They reach a model as ordinary fields where it is built
(`model_fields`, called by lib/models build(..., rewrites=...)): nn.Conv's
own `conv_general_dilated`, and the layers' `max_pool` and `pool_first`.
The parameters stay the same, and evaluation and inference run the model
built without them. What can differ in a train step is rounding: sums in
another order (conv.py's filter gradients, the shares of overlapping pool
windows) and, for pool_first, the last bit of exp-based activations and, at
float ties (inputs that round equal once the bias is added, or saturate the
activation; frequent in bfloat16), which element of a window receives the
gradient: as accurate, not bitwise equal.
"""
import functools

import jax

from lib import errors
from lib.cpu_gradients import conv, max_pool

REWRITES = ('max_pool', 'conv_barrier', 'matmul_filter_grad',
            'sliced_filter_grad', 'pool_first')
SETTINGS = ('auto', 'on', 'off')
FILTER_GRAD_SLICE = 128  # 64 and 128 measure alike at batch 512.
# The model fields `model_fields` sets; not settable from a config.
MODEL_FIELDS = frozenset({'conv_general_dilated', 'max_pool', 'pool_first'})


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


def model_fields(rewrites: frozenset[str]) -> dict:
  """The model fields (lib/layers.py's docstring) that apply `rewrites`."""
  fields = {}
  if rewrites & {'conv_barrier', 'matmul_filter_grad', 'sliced_filter_grad'}:
    fields['conv_general_dilated'] = _convolution(rewrites)
  if 'max_pool' in rewrites:
    fields['max_pool'] = max_pool.max_pool
  if 'pool_first' in rewrites:
    fields['pool_first'] = True
  return fields


def _convolution(rewrites):
  return functools.partial(
      conv.conv_general_dilated, barrier='conv_barrier' in rewrites,
      matmul='matmul_filter_grad' in rewrites,
      slice_size=FILTER_GRAD_SLICE if 'sliced_filter_grad' in rewrites else 0)
