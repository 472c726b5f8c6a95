"""A configurable convolutional network: conv blocks, then a dense head.

Every conv block applies the configured activation and pooling; dropout goes
after the conv blocks, the hidden dense layers, or both (`dropout_placement`).
`norm` ('none' by default; 'batch', 'group', 'layer': lib/layers.py) goes
after every convolution, before its activation, in place of the conv's bias;
the dense layers have none.
"""
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib import errors, layers

PLACEMENTS = ('dense', 'conv', 'all')


class CNN(nn.Module):
  num_outputs: int
  features: Sequence[int] = (32, 64)
  convs_per_block: int = 1
  kernel_size: int = 3
  activation: str = 'relu'
  pooling: str = 'max'
  pool_size: int = 2
  dense: Sequence[int] = (128,)
  dropout: float = 0.5
  dropout_placement: str = 'dense'
  norm: str = 'none'
  dtype: Any = jnp.float32
  # How the train step is differentiated (lib/layers.py's docstring).
  conv_general_dilated: Callable | None = None
  max_pool: Callable | None = None
  pool_first: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if self.dropout_placement not in PLACEMENTS:
      raise errors.unknown_name('dropout_placement', self.dropout_placement,
                                PLACEMENTS)
    conv_dropout = self.dropout if self.dropout_placement != 'dense' else 0.0
    dense_dropout = self.dropout if self.dropout_placement != 'conv' else 0.0
    for i, features in enumerate(self.features):
      for j in range(self.convs_per_block):
        last = j == self.convs_per_block - 1
        x = layers.ConvBlock(
            features, self.kernel_size, activation=self.activation,
            pooling=self.pooling if last else 'none',
            pool_size=self.pool_size,
            dropout=conv_dropout if last else 0.0, norm=self.norm,
            dtype=self.dtype,
            conv_general_dilated=self.conv_general_dilated,
            max_pool=self.max_pool, pool_first=self.pool_first,
            name=f'conv{i}_{j}')(x, train)
    x = x.reshape((x.shape[0], -1))
    for i, units in enumerate(self.dense):
      x = layers.DenseBlock(units, self.activation, dense_dropout,
                            dtype=self.dtype, name=f'dense{i}')(x, train)
    return nn.Dense(self.num_outputs, dtype=self.dtype, name='head')(x)
