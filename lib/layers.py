"""Building blocks shared by the models: conv and dense blocks whose
activation, pooling and dropout come from the registries by name.

Every model with convolutions has the three fields below, which say how its
train step is differentiated; lib/models build() sets them from
lib/cpu_gradients for a CPU train step, and their defaults are flax's own:

  conv_general_dilated  passed to every nn.Conv (flax's own field): the
                        convolution, None for lax.conv_general_dilated
  max_pool              the 'max' pooling, None for flax's nn.max_pool
  pool_first            ConvBlock only: with max pooling and a non-decreasing
                        activation, pool the convolution's output before the
                        bias and the activation (max commutes with both), so
                        they run on a map window**2 smaller. The same
                        parameters and the same function, up to float ties.
"""
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib import activations, pooling


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
  conv_general_dilated: Callable | None = None
  max_pool: Callable | None = None
  pool_first: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    k = self.kernel_size
    pool = lambda y: pooling.pool(self.pooling, y, self.pool_size,
                                  self.pool_stride, max_pool=self.max_pool)
    convolve = self.conv_general_dilated
    pool_first = (self.pool_first and self.pooling == 'max' and
                  self.activation in activations.NON_DECREASING)
    if pool_first:
      # nn.Conv adds its bias after calling this, so the pool comes first.
      plain = convolve or jax.lax.conv_general_dilated
      convolve = lambda *args, **kwargs: pool(plain(*args, **kwargs))
    x = nn.Conv(self.features, (k, k), self.strides, self.padding,
                use_bias=self.use_bias, dtype=self.dtype,
                conv_general_dilated=convolve, name='conv')(x)
    x = activations.get(self.activation)(x)
    if not pool_first:
      x = pool(x)
    return nn.Dropout(self.dropout, deterministic=not train)(x)


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
