"""The building blocks of every model: the activations and poolings, chosen
by name (one registry each, so an ablation reaches every layer of every
model, stems included), the normalization after a convolution
(`normalization`), and conv and dense blocks built from them.

Every model with convolutions has the three fields below, which say how its
train step is differentiated; lib/models build() sets them from
lib/cpu_gradients for a CPU train step, and their defaults are flax's own:

  conv_general_dilated  passed to every nn.Conv (flax's own field): the
                        convolution, None for lax.conv_general_dilated
  max_pool              the 'max' pooling, None for flax's nn.max_pool
                        (lib/cpu_gradients/max_pool.py: the same maximum,
                        differentiated another way)
  pool_first            ConvBlock only: with max pooling and a non-decreasing
                        activation, pool the convolution's output before the
                        bias and the activation (max commutes with both), so
                        they run on a map window**2 smaller. The same
                        parameters and the same function, up to float ties.
                        Not with a normalization: its statistics are over
                        the whole map.
"""
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib import errors

Activation = Callable[[jax.Array], jax.Array]

ACTIVATIONS: dict[str, Activation] = {
    # The lecture's three.
    'sigmoid': jax.nn.sigmoid,
    'tanh': jnp.tanh,
    'relu': jax.nn.relu,
    # Common modern ones.
    'leaky_relu': jax.nn.leaky_relu,
    'elu': jax.nn.elu,
    'gelu': jax.nn.gelu,
    'silu': jax.nn.silu,
    'softplus': jax.nn.softplus,
    'relu6': jax.nn.relu6,
    'identity': lambda x: x,
}
# Never decreasing: max pooling commutes with these (pool_first above).
# Not gelu or silu, which dip below zero and back.
NON_DECREASING = frozenset({'sigmoid', 'tanh', 'relu', 'leaky_relu', 'elu',
                            'softplus', 'relu6', 'identity'})


def get_activation(name: str) -> Activation:
  try:
    return ACTIVATIONS[name]
  except KeyError:
    raise errors.unknown_name('activation', name, ACTIVATIONS) from None


def _max(x: jax.Array, window: int, stride: int, padding) -> jax.Array:
  return nn.max_pool(x, (window, window), (stride, stride), padding)


def _mean(x: jax.Array, window: int, stride: int, padding) -> jax.Array:
  # count_include_pad=False: border windows average only real pixels, as
  # torch's AvgPool2d(count_include_pad=False) and the papers' mean pooling.
  return nn.avg_pool(x, (window, window), (stride, stride), padding,
                     count_include_pad=False)


def _none(x: jax.Array, window: int, stride: int, padding) -> jax.Array:
  del window, stride, padding
  return x


Pool = Callable[[jax.Array, int, int, str], jax.Array]

POOLINGS: dict[str, Pool] = {'max': _max, 'mean': _mean, 'none': _none}


def pool(name: str, x: jax.Array, window: int = 2, stride: int | None = None,
         padding='VALID', max_pool: Pool | None = None) -> jax.Array:
  """Pools NHWC `x` with a square window (stride: the window's, unless
  given); `max_pool`, when given, is used for 'max'."""
  if name not in POOLINGS:
    raise errors.unknown_name('pooling', name, POOLINGS)
  fn = max_pool if name == 'max' and max_pool is not None else POOLINGS[name]
  return fn(x, window, window if stride is None else stride, padding)


NORMS = ('batch', 'group', 'layer', 'none')
# Each kind's module name beside its conv: 'bn' is what the models' BatchNorm
# layers were called before `norm` existed, so their parameters keep it.
NORM_NAMES = {'batch': 'bn', 'group': 'gn', 'layer': 'ln'}
MAX_GROUPS = 32  # GroupNorm's groups (Wu & He 2018's G).


def check_norm(norm: str) -> None:
  if norm not in NORMS:
    raise errors.unknown_name('norm', norm, NORMS)


def group_count(channels: int) -> int:
  """Wu & He's 32 groups, or where 32 does not divide the channels (16, 6,
  120), the largest count below it that does: every group the same size."""
  return max(g for g in range(1, min(MAX_GROUPS, channels) + 1)
             if channels % g == 0)


def normalization(norm: str, channels: int, train: bool, name: str,
                  dtype: Any = jnp.float32, zero_scale: bool = False
                  ) -> Callable[[jax.Array], jax.Array]:
  """flax's own layer for `norm`, over an NHWC map of `channels`, or the
  identity for 'none'. Each has a scale and a bias per channel.

    batch  BatchNorm: over the batch and the map, running statistics for
           evaluation (momentum 0.9, epsilon 1e-5: torch's defaults, which
           torchvision's ResNets were trained with)
    group  GroupNorm: per example, over the map and `group_count` groups of
           channels
    layer  LayerNorm as Ba et al. and Wu & He define it for convolutions:
           per example, over the whole map and all channels (GroupNorm with
           one group), not over the channels of each pixel alone
  `name` is the layer's (the models use NORM_NAMES[norm], alone or after a
  prefix); `zero_scale` starts the scale at 0 (a residual branch at 0).
  """
  check_norm(norm)
  if norm == 'none':
    return lambda x: x
  common = dict(epsilon=1e-5, dtype=dtype, name=name,
                scale_init=nn.initializers.zeros if zero_scale
                else nn.initializers.ones)
  if norm == 'batch':
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, **common)
  if norm == 'group':
    return nn.GroupNorm(num_groups=group_count(channels), **common)
  return nn.LayerNorm(reduction_axes=(-3, -2, -1), feature_axes=-1, **common)


class ConvBlock(nn.Module):
  """conv -> [norm] -> activation -> pooling -> dropout, on NHWC input.

  With a norm the conv has no bias (the norm's own bias follows, as in
  ResNets); 'none', the default, is the block as it always was."""
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
  norm: str = 'none'  # NORMS
  dtype: Any = jnp.float32
  conv_general_dilated: Callable | None = None
  max_pool: Callable | None = None
  pool_first: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    check_norm(self.norm)
    k = self.kernel_size
    pooled = lambda y: pool(self.pooling, y, self.pool_size, self.pool_stride,
                            max_pool=self.max_pool)
    convolve = self.conv_general_dilated
    pool_first = (self.pool_first and self.pooling == 'max' and
                  self.norm == 'none' and
                  self.activation in NON_DECREASING)
    if pool_first:
      # nn.Conv adds its bias after calling this, so the pool comes first.
      plain = convolve or jax.lax.conv_general_dilated
      convolve = lambda *args, **kwargs: pooled(plain(*args, **kwargs))
    x = nn.Conv(self.features, (k, k), self.strides, self.padding,
                use_bias=self.use_bias and self.norm == 'none',
                dtype=self.dtype, conv_general_dilated=convolve, name='conv')(x)
    if self.norm != 'none':
      x = normalization(self.norm, self.features, train,
                        NORM_NAMES[self.norm], self.dtype)(x)
    x = get_activation(self.activation)(x)
    if not pool_first:
      x = pooled(x)
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
    x = get_activation(self.activation)(x)
    return nn.Dropout(self.dropout, deterministic=not train)(x)
