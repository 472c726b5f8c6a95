"""The lecture's worked examples, through the project's own layers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib import layers

IMAGE = [[2, 2, 2, 1, 1], [1, 4, 4, 1, 3], [2, 3, 4, 3, 2], [3, 3, 2, 4, 1],
         [2, 4, 3, 4, 2]]
FILTER = [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
POOL_INPUT = [[7, 2, 8, 5], [6, 6, 6, 6], [2, 4, 3, 3], [3, 2, 1, 6]]
# The slide prints -2 at row 1, column 2 (and 0 after relu). The window there
# is [[4,1,3],[4,3,2],[2,4,1]]: -4-2-3 + 2+8+1 = 2, so the slide has a sign
# slip; scipy agrees with us (test_slide_value_is_a_typo). Every other entry
# is exactly the slide's.
RESPONSE = [[4, 7, 7], [-2, -2, 2], [1, 0, 1]]
RESPONSE_RELU = [[4, 7, 7], [0, 0, 2], [1, 0, 1]]


def conv_block_output(activation: str) -> np.ndarray:
  block = layers.ConvBlock(features=1, kernel_size=3, padding='VALID',
                           activation=activation, pooling='none', use_bias=False)
  x = jnp.asarray(IMAGE, jnp.float32)[None, :, :, None]
  params = {'params': {'conv': {'kernel': jnp.asarray(FILTER, jnp.float32)[:, :, None, None]}}}
  assert jax.tree.map(jnp.shape, block.init(jax.random.PRNGKey(0), x)) == \
      jax.tree.map(jnp.shape, params)
  return np.asarray(block.apply(params, x))[0, :, :, 0]


def test_convolution_is_cross_correlation_without_padding():
  np.testing.assert_array_equal(conv_block_output('identity'), RESPONSE)


def test_slide_value_is_a_typo():
  from scipy import signal
  reference = signal.correlate2d(np.asarray(IMAGE), np.asarray(FILTER), 'valid')
  np.testing.assert_array_equal(reference, RESPONSE)
  slide = [[4, 7, 7], [-2, -2, -2], [1, 0, 1]]
  assert (reference != slide).sum() == 1 and reference[1, 2] == 2


def test_convolution_then_relu():
  np.testing.assert_array_equal(conv_block_output('relu'), RESPONSE_RELU)


@pytest.mark.parametrize('kind, expected', [
    ('max', [[7, 8], [4, 6]]),
    ('mean', [[5.25, 6.25], [2.75, 3.25]]),
])
def test_pooling_2x2_stride_2(kind, expected):
  x = jnp.asarray(POOL_INPUT, jnp.float32)[None, :, :, None]
  out = layers.pool(kind, x, window=2, stride=2)
  np.testing.assert_allclose(np.asarray(out)[0, :, :, 0], expected)


def test_conv_block_pools_with_the_configured_kind():
  # The same block with pooling='max' after an identity conv pools the input.
  block = layers.ConvBlock(features=1, kernel_size=1, activation='identity',
                           pooling='max', use_bias=False)
  x = jnp.asarray(POOL_INPUT, jnp.float32)[None, :, :, None]
  params = {'params': {'conv': {'kernel': jnp.ones((1, 1, 1, 1))}}}
  np.testing.assert_array_equal(np.asarray(block.apply(params, x))[0, :, :, 0],
                                [[7, 8], [4, 6]])
