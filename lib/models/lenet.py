"""LeNet-5 (LeCun et al. 1998), for 28x28 or 32x32 grayscale digits.

    C1 6@5x5 -> S2 pool 2x2 -> C3 16@5x5 -> S4 pool 2x2 -> C5 120@5x5 -> F6 84
    -> output

Inputs smaller than 32x32 (MNIST's 28x28) are zero-padded to 32x32, as the
paper did, so C5 sees exactly one 5x5 map and the model has 61,706 parameters
for 10 classes. Larger inputs pass unpadded; C5 then yields a bigger map that is
flattened, so F6 grows.

Simplifications of the paper, as in every modern re-implementation: C3 connects
to all six S2 maps (the paper's sparse table saves 906 weights); S2/S4 are plain
pooling without the trainable coefficient, bias and squashing; the output is a
dense layer rather than Euclidean RBF units; the paper's scaled tanh
1.7159*tanh(2x/3) is the registry's plain activation.

pooling: 'mean' (the paper's subsampling), 'max', 'none', or 'strided': C1 and
C3 get stride 2 instead of a pooling layer (32 -> 14 -> 5, so C5 still sees one
5x5 map and the parameter count is unchanged).

norm: 'none' (the paper's), or 'batch', 'group', 'layer' (lib/layers.py) after
each of C1, C3 and C5, before the activation, in place of the conv's bias
(layers c1_bn, c3_gn, ...); F6 and the output have none.
"""
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib import errors, layers

_SIZE = 32  # The paper's input size; C5's 5x5 kernel exactly covers S4 then.


class LeNet5(nn.Module):
  num_outputs: int
  activation: str = 'tanh'
  pooling: str = 'mean'
  dropout: float = 0.0  # On the outputs of C5 and F6 (the paper used none).
  norm: str = 'none'
  dtype: Any = jnp.float32
  # How the train step is differentiated (lib/layers.py's docstring).
  conv_general_dilated: Callable | None = None
  max_pool: Callable | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    act = layers.get_activation(self.activation)
    layers.check_norm(self.norm)
    if self.pooling not in (*layers.POOLINGS, 'strided'):
      raise errors.unknown_name('pooling', self.pooling,
                                (*layers.POOLINGS, 'strided'))
    strided = self.pooling == 'strided'
    pool_name = 'none' if strided else self.pooling
    stride = (2, 2) if strided else (1, 1)

    pad_h, pad_w = max(_SIZE - x.shape[1], 0), max(_SIZE - x.shape[2], 0)
    x = jnp.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2),
                    (pad_w // 2, pad_w - pad_w // 2), (0, 0)))

    def conv(x, features, strides, name, pool):
      x = nn.Conv(features, (5, 5), strides, 'VALID',
                  use_bias=self.norm == 'none', dtype=self.dtype,
                  conv_general_dilated=self.conv_general_dilated, name=name)(x)
      if self.norm != 'none':
        x = layers.normalization(
            self.norm, features, train,
            f'{name}_{layers.NORM_NAMES[self.norm]}', self.dtype)(x)
      return layers.pool(pool, act(x), 2, max_pool=self.max_pool)

    x = conv(x, 6, stride, 'c1', pool_name)  # C1, S2
    x = conv(x, 16, stride, 'c3', pool_name)  # C3, S4
    x = conv(x, 120, (1, 1), 'c5', 'none')
    x = x.reshape((x.shape[0], -1))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = act(nn.Dense(84, dtype=self.dtype, name='f6')(x))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.num_outputs, dtype=self.dtype, name='output')(x)
