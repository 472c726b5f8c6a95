"""Residual networks (He et al. 2015): ImageNet ResNet-18..152 and CIFAR ResNets.

`ResNet` matches torchvision's resnet18/34/50/101/152 (v1.5: a bottleneck
block strides on its 3x3 conv, not its first 1x1): stem conv 7x7/2 + BN +
activation + 3x3/2 pool, four stages of 64/128/256/512 (x4 for bottlenecks)
channels, projection shortcuts (1x1 conv + BN) where the shape changes, global
average pool, dense head. ResNet-50 has 25,557,032 parameters at 1000 classes
(BatchNorm scale and bias count; running statistics do not).

`CifarResNet` is the paper's section 4.2 CIFAR-10 network, depth 6n+2: a 3x3
conv of 16 filters, three stages of n basic blocks with 16/32/64 filters (the
first block of stages 2 and 3 strides by 2), global average pool, dense head.
Its shortcuts are option A by default: parameter-free, stride-2 subsampling plus
zero channels (ResNet-20: 269,722 parameters at 10 classes, the paper's
"0.27M"); shortcut='projection' is option B (272,474).

shortcut='none' (either kind) is the paper's plain network (He et al. 2015
Fig. 4 and 6): the same layers, no shortcut added, so a plain CIFAR net has
the parameters of its option-A twin exactly (plain-20: 269,722 too).
norm: 'batch' (the paper's, the default), 'group', 'layer' or 'none', after
every convolution (lib/layers.py normalization). With 'none' the convolutions
get biases instead, and zero_init_residual starts a branch's last conv at 0.
BatchNorm layers keep their names ('bn', 'stem_bn'); the others are 'gn'/'ln'.

The configured activation is applied at every site (the stem included, nothing
is hard-coded to relu) and the configured pooling replaces the stem's max pool.
pooling='strided' drops the stem pool and strides the stem conv by 4 instead
(224 -> 56, as with the pool). The final global average pool is part of the
architecture and is not affected by `pooling`; CIFAR ResNets have no other pool
and so no `pooling` setting.
"""
import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib import errors, layers
from lib.models import input_scaling

BLOCKS = ('basic', 'bottleneck')
SHORTCUTS = ('zeros', 'projection', 'none')
# He et al.'s init, as torchvision's kaiming_normal_(mode='fan_out').
CONV_INIT = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')


class _ConvNorm(nn.Module):
  """conv -> norm; the conv has no bias unless norm='none' (the norm's own
  bias follows)."""
  features: int
  kernel: int
  stride: int = 1
  # The residual branch starts at 0: the norm's scale (gamma) starts at 0,
  # or without a norm, the conv's kernel.
  zero_scale: bool = False
  norm: str = 'batch'
  dtype: Any = jnp.float32
  conv_general_dilated: Callable | None = None  # lib/layers.py's docstring.

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    pad = (self.kernel - 1) // 2  # torch-style symmetric padding.
    plain = self.norm == 'none'
    x = nn.Conv(self.features, (self.kernel, self.kernel), self.stride,
                ((pad, pad), (pad, pad)), use_bias=plain,
                kernel_init=(nn.initializers.zeros if plain and self.zero_scale
                             else CONV_INIT), dtype=self.dtype,
                conv_general_dilated=self.conv_general_dilated, name='conv')(x)
    if plain:
      return x
    return layers.normalization(self.norm, self.features, train,
                                layers.NORM_NAMES[self.norm], self.dtype,
                                zero_scale=self.zero_scale)(x)


class _ResidualBlock(nn.Module):
  """The settings both blocks take; each block's layers are its __call__."""
  features: int
  stride: int = 1
  activation: str = 'relu'
  shortcut: str = 'projection'
  zero_init_residual: bool = False
  norm: str = 'batch'
  dtype: Any = jnp.float32
  conv_general_dilated: Callable | None = None


class BasicBlock(_ResidualBlock):
  """3x3 -> 3x3, with the shortcut added before the last activation."""

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    act = layers.get_activation(self.activation)
    conv_bn = functools.partial(_ConvNorm, norm=self.norm, dtype=self.dtype,
                                conv_general_dilated=self.conv_general_dilated)
    y = act(conv_bn(self.features, 3, self.stride, name='a')(x, train))
    y = conv_bn(self.features, 3, 1, self.zero_init_residual, name='b')(y, train)
    return act(_add_shortcut(self, y, x, train))


class BottleneckBlock(_ResidualBlock):
  """1x1 reduce -> 3x3 (strided) -> 1x1 expand x4, shortcut, activation."""
  expansion = 4

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    act = layers.get_activation(self.activation)
    out = self.features * self.expansion
    conv_bn = functools.partial(_ConvNorm, norm=self.norm, dtype=self.dtype,
                                conv_general_dilated=self.conv_general_dilated)
    y = act(conv_bn(self.features, 1, name='a')(x, train))
    y = act(conv_bn(self.features, 3, self.stride, name='b')(y, train))
    y = conv_bn(out, 1, 1, self.zero_init_residual, name='c')(y, train)
    return act(_add_shortcut(self, y, x, train))


def _add_shortcut(block: _ResidualBlock, y: jax.Array, x: jax.Array,
                  train: bool) -> jax.Array:
  """The residual branch `y` plus the block's input `x` through the shortcut:
  identity when shapes match, else option B (1x1 conv+norm) or A (zeros);
  a plain block (shortcut='none') adds nothing."""
  if block.shortcut == 'none':
    return y
  features = y.shape[-1]
  if block.stride == 1 and x.shape[-1] == features:
    return y + x
  if block.shortcut == 'projection':
    return y + _ConvNorm(features, 1, block.stride, norm=block.norm,
                         dtype=block.dtype,
                         conv_general_dilated=block.conv_general_dilated,
                         name='shortcut')(x, train)
  # Option A: subsample, then pad the new channels with zeros on both sides.
  x = x[:, ::block.stride, ::block.stride, :]
  extra = features - x.shape[-1]
  return y + jnp.pad(x, ((0, 0), (0, 0), (0, 0),
                         (extra // 2, extra - extra // 2)))


def _check(kind: str, name: str, valid: Sequence[str]) -> None:
  if name not in valid:
    raise errors.unknown_name(kind, name, valid)


class ResNet(nn.Module):
  """ImageNet ResNet; the registry's resnet18..152 fix the depth fields."""
  num_outputs: int
  stage_sizes: Sequence[int] = (2, 2, 2, 2)
  block: str = 'basic'  # 'basic' | 'bottleneck'
  width: int = 64       # Channels of the stem and the first stage.
  activation: str = 'relu'
  pooling: str = 'max'  # The stem's 3x3/2 pool: 'max'|'mean'|'none'|'strided'.
  dropout: float = 0.0  # Before the head.
  zero_init_residual: bool = False  # Goyal et al. 2017; torchvision's option.
  # Where the shape changes: 'projection' (option B, torchvision's), 'zeros'
  # (option A); 'none': the plain network.
  shortcut: str = 'projection'
  norm: str = 'batch'   # lib/layers.py NORMS.
  # (x - mean) / std first, e.g. for ImageNet weights (lib/models/input_scaling.py).
  input_mean: tuple = ()
  input_std: tuple = ()
  dtype: Any = jnp.float32
  # How the train step is differentiated (lib/layers.py's docstring).
  conv_general_dilated: Callable | None = None
  max_pool: Callable | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    _check('block', self.block, BLOCKS)
    _check('pooling', self.pooling, (*layers.POOLINGS, 'strided'))
    _check('shortcut', self.shortcut, SHORTCUTS)
    layers.check_norm(self.norm)
    block_cls = BasicBlock if self.block == 'basic' else BottleneckBlock
    strided = self.pooling == 'strided'
    x = input_scaling.standardize(x, self.input_mean, self.input_std)

    x = nn.Conv(self.width, (7, 7), 4 if strided else 2, ((3, 3), (3, 3)),
                use_bias=self.norm == 'none', kernel_init=CONV_INIT,
                dtype=self.dtype,
                conv_general_dilated=self.conv_general_dilated,
                name='stem_conv')(x)
    if self.norm != 'none':
      x = layers.normalization(self.norm, self.width, train,
                               f'stem_{layers.NORM_NAMES[self.norm]}',
                               self.dtype)(x)
    x = layers.get_activation(self.activation)(x)
    x = layers.pool('none' if strided else self.pooling, x, 3, 2,
                     ((1, 1), (1, 1)), max_pool=self.max_pool)
    for i, n in enumerate(self.stage_sizes):
      for j in range(n):
        x = block_cls(self.width * 2**i, 2 if i > 0 and j == 0 else 1,
                      activation=self.activation, shortcut=self.shortcut,
                      zero_init_residual=self.zero_init_residual,
                      norm=self.norm, dtype=self.dtype,
                      conv_general_dilated=self.conv_general_dilated,
                      name=f'stage{i + 1}_block{j + 1}')(x, train)
    x = jnp.mean(x, axis=(1, 2))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.num_outputs, dtype=self.dtype, name='head')(x)


# He et al. 2015 Table 1: depth -> (block, blocks per stage).
IMAGENET_DEPTHS = {
    18: ('basic', (2, 2, 2, 2)),
    34: ('basic', (3, 4, 6, 3)),
    50: ('bottleneck', (3, 4, 6, 3)),
    101: ('bottleneck', (3, 4, 23, 3)),
    152: ('bottleneck', (3, 8, 36, 3)),
}


class CifarResNet(nn.Module):
  """CIFAR ResNet of depth 6n+2; the registry's resnet20..110 fix n."""
  num_outputs: int
  blocks_per_stage: int = 3  # n
  width: int = 16
  activation: str = 'relu'
  # 'zeros' (option A) | 'projection' (option B) | 'none' (the plain net).
  shortcut: str = 'zeros'
  norm: str = 'batch'      # lib/layers.py NORMS.
  dropout: float = 0.0     # Before the head.
  dtype: Any = jnp.float32
  # How the train step is differentiated (lib/layers.py's docstring).
  conv_general_dilated: Callable | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    _check('shortcut', self.shortcut, SHORTCUTS)
    layers.check_norm(self.norm)
    x = _ConvNorm(self.width, 3, norm=self.norm, dtype=self.dtype,
                  conv_general_dilated=self.conv_general_dilated,
                  name='stem')(x, train)
    x = layers.get_activation(self.activation)(x)
    for i in range(3):
      for j in range(self.blocks_per_stage):
        x = BasicBlock(self.width * 2**i, 2 if i > 0 and j == 0 else 1,
                       activation=self.activation, shortcut=self.shortcut,
                       norm=self.norm,
                       dtype=self.dtype,
                       conv_general_dilated=self.conv_general_dilated,
                       name=f'stage{i + 1}_block{j + 1}')(x, train)
    x = jnp.mean(x, axis=(1, 2))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.num_outputs, dtype=self.dtype, name='head')(x)


# He et al. 2015 Section 4.2: depth 6n+2 -> n.
CIFAR_DEPTHS = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18}
