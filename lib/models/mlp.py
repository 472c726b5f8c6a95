"""Multi-layer perceptron: `depth` hidden layers of `width` units."""
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib import layers


class MLP(nn.Module):
  num_outputs: int
  depth: int = 2
  width: int = 256
  activation: str = 'relu'
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x = x.reshape((x.shape[0], -1))
    for i in range(self.depth):
      x = layers.DenseBlock(self.width, self.activation, self.dropout,
                            dtype=self.dtype, name=f'hidden{i}')(x, train)
    return nn.Dense(self.num_outputs, dtype=self.dtype, name='head')(x)
