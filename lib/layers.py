"""Building blocks shared by the models: conv and dense blocks whose
activation, pooling and dropout come from the registries by name."""
from typing import Any

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

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    k = self.kernel_size
    x = nn.Conv(self.features, (k, k), self.strides, self.padding,
                use_bias=self.use_bias, dtype=self.dtype, name='conv')(x)
    x = activations.get(self.activation)(x)
    x = pooling.pool(self.pooling, x, self.pool_size, self.pool_stride)
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
