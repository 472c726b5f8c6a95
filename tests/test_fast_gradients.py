"""Our faster gradients give the gradients JAX's own differentiation gives.

lib/pooling.py (max pool) and lib/conv.py (convolution) replace how JAX
differentiates two ops, for speed on XLA:CPU. A speed change must not change
what is learned: these compare against jax.grad of the plain ops.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib import conv, pooling


def _cotangent(shape, seed=1):
  return jax.random.normal(jax.random.PRNGKey(seed), shape)


@pytest.mark.parametrize('window,stride,padding', [
    (2, 2, 'VALID'),   # Disjoint windows (the CNN, LeNet).
    (3, 2, 'VALID'),   # Overlapping (AlexNet).
    (3, 2, 'SAME'),    # Padded (ResNet-50's stem).
    (2, 2, 'SAME'),    # Odd size: a ragged last window.
])
def test_max_pool_gradient_matches_select_and_scatter(window, stride, padding):
  # Quantized values make ties common: the first maximum must win, as in
  # XLA's select-and-scatter.
  x = jnp.round(jax.random.normal(jax.random.PRNGKey(0), (3, 9, 11, 4)) * 2)
  ours = lambda x: pooling.pool('max', x, window, stride, padding)
  plain = lambda x: nn.max_pool(x, (window, window), (stride, stride), padding)
  y, ours_vjp = jax.vjp(ours, x)
  y_plain, plain_vjp = jax.vjp(plain, x)
  np.testing.assert_array_equal(y, y_plain)
  # Integer cotangents make every sum exact, so the routing (which input
  # gets each window's gradient) must match bit for bit ...
  g = jnp.round(_cotangent(y.shape) * 8)
  np.testing.assert_array_equal(jax.jit(ours_vjp)(g)[0],
                                jax.jit(plain_vjp)(g)[0])
  # ... and with float ones only the order of overlapping windows' sums differs.
  g = _cotangent(y.shape)
  np.testing.assert_allclose(jax.jit(ours_vjp)(g)[0], jax.jit(plain_vjp)(g)[0],
                             rtol=0, atol=1e-6)


def _conv_grads(module_cls, batch, **settings):
  x = jax.random.normal(jax.random.PRNGKey(0), (batch, 10, 10, 6))
  module = module_cls(features=8, **settings)
  params = module.init(jax.random.PRNGKey(2), x[:1])
  y = module.apply(params, x)
  g = _cotangent(y.shape)

  @jax.jit
  def grads(params, x):
    _, vjp = jax.vjp(lambda p, x: module.apply(p, x), params, x)
    return vjp(g)
  return y, grads(params, x)


CONV_SETTINGS = [
    dict(kernel_size=(3, 3)),
    dict(kernel_size=(3, 3), strides=(2, 2), padding='SAME', use_bias=False),
    dict(kernel_size=(5, 5), padding='VALID'),
    dict(kernel_size=(3, 3), feature_group_count=2),
]


@pytest.mark.parametrize('settings', CONV_SETTINGS)
def test_conv_gradient_is_bitwise_flax_below_the_slice(settings):
  batch = conv.FILTER_GRAD_SLICE  # One slice: only the input barrier differs.
  y, (dparams, dx) = _conv_grads(conv.Conv, batch, **settings)
  y0, (dparams0, dx0) = _conv_grads(nn.Conv, batch, **settings)
  np.testing.assert_array_equal(y, y0)
  np.testing.assert_array_equal(dx, dx0)
  jax.tree.map(np.testing.assert_array_equal, dparams, dparams0)


@pytest.mark.parametrize('settings', CONV_SETTINGS)
def test_sliced_filter_gradient_equals_the_whole_batch_one(settings):
  batch = 4 * conv.FILTER_GRAD_SLICE  # Summed over 4 slices.
  y, (dparams, dx) = _conv_grads(conv.Conv, batch, **settings)
  y0, (dparams0, dx0) = _conv_grads(nn.Conv, batch, **settings)
  np.testing.assert_array_equal(y, y0)
  np.testing.assert_array_equal(dx, dx0)
  # Only the order of the float sum over examples differs: float32 rounding
  # relative to the gradient's scale.
  close = lambda a, b: np.testing.assert_allclose(
      a, b, rtol=0, atol=1e-5 * float(np.abs(b).max()))
  jax.tree.map(close, dparams, dparams0)


def test_batch_that_is_no_multiple_of_the_slice_is_not_sliced():
  batch = conv.FILTER_GRAD_SLICE + 8
  _, (dparams, _) = _conv_grads(conv.Conv, batch, kernel_size=(3, 3))
  _, (dparams0, _) = _conv_grads(nn.Conv, batch, kernel_size=(3, 3))
  jax.tree.map(np.testing.assert_array_equal, dparams, dparams0)
