"""Building blocks shared by the models: conv and dense blocks whose
activation, pooling and dropout come from the registries by name."""
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib import activations, pooling
from lib.conv import Conv


class ConvBlock(nn.Module):
  """conv -> activation -> pooling -> dropout, on NHWC input."""
  features: int
  kernel_size: int = 3
  strides: int = 1
  padding: str | int = 'SAME'
  activation: str = 'relu'
  pooling: str = 'none'
  pool_size: int = 2
  pool_stride: int | None = None
  dropout: float = 0.0
  use_bias: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    k = self.kernel_size
    x = conv_activation_pool(
        x, self.activation, self.pooling, self.pool_size, self.pool_stride,
        features=self.features, kernel_size=(k, k),
        strides=(self.strides, self.strides), padding=self.padding,
        use_bias=self.use_bias, dtype=self.dtype, name='conv')
    return nn.Dropout(self.dropout, deterministic=not train)(x)


def conv_activation_pool(x: jax.Array, activation: str, pool: str,
                         window: int = 2, stride: int | None = None,
                         **conv: Any) -> jax.Array:
  """pool(activation(Conv(**conv)(x))), in a cheaper order where that is exact.

  Max pooling commutes with a non-decreasing activation and with adding the
  per-channel bias (rounding x + b never reverses an order), so for those
  this max-pools the convolution's output first and adds the bias and
  applies the activation to a map window**2 times smaller, forward and
  backward: the CNN's train step at batch 128 runs 1.4x faster on CPU
  (experiments/bench/README.md). Same parameters, same values (to the last
  bit for piecewise-linear activations; exp-based ones may round their last
  bit differently); a gradient can differ only in which element of a window
  it reaches, where two elements tie after the bias is added and not before.
  """
  act = activations.get(activation)
  if (POOL_BEFORE_ACTIVATION and pool == 'max' and
      activation in activations.NON_DECREASING):
    convolve = Conv.keywords['conv_general_dilated']

    def convolve_then_pool(*args, **kwargs):
      return pooling.pool('max', convolve(*args, **kwargs), window, stride)

    # flax's Conv adds the bias to whatever this returns: the pooled map.
    return act(Conv(**conv, conv_general_dilated=convolve_then_pool)(x))
  return pooling.pool(pool, act(Conv(**conv)(x)), window, stride)


POOL_BEFORE_ACTIVATION = True  # False: always conv -> activation -> pool.


class DenseBlock(nn.Module):
  """dense -> activation -> dropout."""
  features: int
  activation: str = 'relu'
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x = nn.Dense(self.features, dtype=self.dtype, name='dense')(x)
    x = activations.get(self.activation)(x)
    return nn.Dropout(self.dropout, deterministic=not train)(x)
