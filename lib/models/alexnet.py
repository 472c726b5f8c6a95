"""AlexNet: torchvision's single-tower variant and the paper's two-tower one.

`AlexNet` ('alexnet') matches torchvision.models.alexnet layer for layer
(61,100,840 parameters at 1000 classes):
    conv 64@11x11/4 pad 2, pool 3/2, conv 192@5x5 pad 2, pool 3/2,
    conv 384, 256, 256 @3x3 pad 1, pool 3/2, adaptive average pool to 6x6,
    dropout, fc 4096, dropout, fc 4096, fc classes.
The adaptive pool makes any input of at least 63x63 work (torch replicates a
smaller map up to 6x6 the same way). Flattening is NHWC, so ported torch fc6
weights need their (C, H, W) input axes permuted.

`AlexNetPaper` ('alexnet_paper') follows Krizhevsky et al. 2012, whose two GPU
towers become grouped convolutions (feature_group_count=2):
    conv 96@11x11/4, LRN, pool 3/2, conv 256@5x5 (2 groups), LRN, pool 3/2,
    conv 384@3x3 (full: the one conv that crosses towers), conv 384@3x3
    (2 groups), conv 256@3x3 (2 groups), pool 3/2, fc 4096, fc 4096, fc classes,
with dropout on the outputs of the first two fc layers (60,965,224 parameters at
1000 classes and 224x224 input). conv1 pads by 2, like torchvision, so 224x224
input gives the paper's 55x55 maps (the paper's "224" only adds up with 227).
The last feature map is flattened as is; there is no adaptive pool.

Both take `activation` and `pooling` from the registries at every site. Pooling
'max' is the papers' overlapping 3x3/2 pool; 'mean' and 'none' replace it;
'strided' drops each pooling layer and doubles the stride of the conv before it
instead (conv1 /8, conv2 /2, conv5 /2: 224 -> 28 -> 14 -> 7), an
all-convolutional variant (Springenberg et al. 2015) with the same parameters
in the convs (the paper variant's fc6 then sees 7x7 rather than 6x6 maps).
"""
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lib import errors, layers
from lib.models import input_scaling


def _check(name: str, pooling_name: str, x: jax.Array) -> None:
  valid = (*layers.POOLINGS, 'strided')
  if pooling_name not in valid:
    raise errors.unknown_name('pooling', pooling_name, valid)
  # Three 3x3/2 pools after a /4 conv need 63 pixels; convs alone need 7.
  smallest = 63 if pooling_name in ('max', 'mean') else 7
  if min(x.shape[1:3]) < smallest:
    raise errors.UserError(
        f"model {name!r} with pooling={pooling_name!r} needs images of at "
        f"least {smallest}x{smallest}; got {x.shape[1]}x{x.shape[2]}")


def local_response_norm(x: jax.Array, groups: int = 1, k: float = 2.0,
                        n: int = 5, alpha: float = 1e-4,
                        beta: float = 0.75) -> jax.Array:
  """Krizhevsky et al.'s LRN across channels (jax and flax have no built-in).

  b_c = a_c / (k + alpha * sum of a_j^2 over the n channels centred on c)^beta,
  with alpha not divided by n (torch's LocalResponseNorm divides it). The sum
  stays inside each of `groups` channel groups, as each GPU normalized only its
  own kernels. Computed in float32 for bfloat16 inputs.
  """
  shape = x.shape
  sq = jnp.square(x.astype(jnp.float32)).reshape(*shape[:-1], groups, -1)
  window = (1,) * (sq.ndim - 1) + (n,)
  pad = ((0, 0),) * (sq.ndim - 1) + ((n // 2, (n - 1) // 2),)
  sums = jax.lax.reduce_window(sq, 0.0, jax.lax.add, window, (1,) * sq.ndim,
                               pad)
  scale = (k + alpha * sums.reshape(shape)) ** -beta
  return (x * scale).astype(x.dtype)


def adaptive_avg_pool(x: jax.Array, size: int) -> jax.Array:
  """torch's AdaptiveAvgPool2d((size, size)) on NHWC input.

  Output cell i averages input rows floor(i*H/size) .. ceil((i+1)*H/size)-1; as
  those bins are fixed by the shape, it is one einsum with averaging matrices.
  """
  def matrix(length: int) -> np.ndarray:
    m = np.zeros((size, length), np.float32)
    for i in range(size):
      lo, hi = (i * length) // size, -((-(i + 1) * length) // size)
      m[i, lo:hi] = 1.0 / (hi - lo)
    return m

  if x.shape[1] == x.shape[2] == size:
    return x
  rows, cols = (jnp.asarray(matrix(n), x.dtype) for n in x.shape[1:3])
  return jnp.einsum('ih,nhwc,jw->nijc', rows, x, cols)


class _AlexNetSettings(nn.Module):
  """The settings both AlexNets take."""
  num_outputs: int
  activation: str = 'relu'
  pooling: str = 'max'
  dropout: float = 0.5
  dtype: Any = jnp.float32
  # How the train step is differentiated (lib/layers.py's docstring).
  conv_general_dilated: Callable | None = None
  max_pool: Callable | None = None


class AlexNet(_AlexNetSettings):
  """torchvision's single-tower AlexNet (see the module docstring)."""
  # (x - mean) / std first, e.g. for ImageNet weights (lib/models/input_scaling.py).
  input_mean: tuple = ()
  input_std: tuple = ()

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    _check('alexnet', self.pooling, x)
    x = input_scaling.standardize(x, self.input_mean, self.input_std)
    act = layers.get_activation(self.activation)
    strided = self.pooling == 'strided'
    pool_name = 'none' if strided else self.pooling
    s = 2 if strided else 1  # Extra stride for a conv whose pool is dropped.

    def conv(x, features, kernel, stride, pad, name, pool='none'):
      x = nn.Conv(features, (kernel, kernel), stride, ((pad, pad), (pad, pad)),
                  dtype=self.dtype,
                  conv_general_dilated=self.conv_general_dilated, name=name)(x)
      return layers.pool(pool, act(x), 3, 2, max_pool=self.max_pool)

    x = conv(x, 64, 11, 4 * s, 2, 'conv1', pool_name)
    x = conv(x, 192, 5, s, 2, 'conv2', pool_name)
    x = conv(x, 384, 3, 1, 1, 'conv3')
    x = conv(x, 256, 3, 1, 1, 'conv4')
    x = conv(x, 256, 3, s, 1, 'conv5', pool_name)
    x = adaptive_avg_pool(x, 6).reshape((x.shape[0], -1))
    for i in (6, 7):
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
      x = act(nn.Dense(4096, dtype=self.dtype, name=f'fc{i}')(x))
    return nn.Dense(self.num_outputs, dtype=self.dtype, name='fc8')(x)


class AlexNetPaper(_AlexNetSettings):
  """Krizhevsky et al. 2012's two-tower AlexNet (see the module docstring)."""
  lrn: bool = True  # False drops both LRN layers (an ablation).

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    _check('alexnet_paper', self.pooling, x)
    act = layers.get_activation(self.activation)
    strided = self.pooling == 'strided'
    pool_name = 'none' if strided else self.pooling
    s = 2 if strided else 1
    norm = ((lambda y: local_response_norm(y, groups=2)) if self.lrn
            else (lambda y: y))

    def conv(x, features, kernel, stride, pad, groups, name):
      x = nn.Conv(features, (kernel, kernel), stride, ((pad, pad), (pad, pad)),
                  feature_group_count=groups, dtype=self.dtype,
                  conv_general_dilated=self.conv_general_dilated, name=name)(x)
      return act(x)

    # conv1 sees the whole image in both towers: not grouped.
    x = norm(conv(x, 96, 11, 4 * s, 2, 1, 'conv1'))
    x = layers.pool(pool_name, x, 3, 2, max_pool=self.max_pool)
    x = norm(conv(x, 256, 5, s, 2, 2, 'conv2'))
    x = layers.pool(pool_name, x, 3, 2, max_pool=self.max_pool)
    x = conv(x, 384, 3, 1, 1, 1, 'conv3')
    x = conv(x, 384, 3, 1, 1, 2, 'conv4')
    x = conv(x, 256, 3, s, 1, 2, 'conv5')
    x = layers.pool(pool_name, x, 3, 2, max_pool=self.max_pool)
    x = x.reshape((x.shape[0], -1))
    for i in (6, 7):
      x = act(nn.Dense(4096, dtype=self.dtype, name=f'fc{i}')(x))
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.num_outputs, dtype=self.dtype, name='fc8')(x)
