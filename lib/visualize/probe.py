"""One forward pass that records what the visualizations need, for any model.

`trace(model, variables, images)` runs the model once (eagerly, train=False)
and returns, in forward order:
  layers  every nn.Conv and nn.Dense call: its path, kernel and output shape;
  stages  the output of every conv (after its activation when one is applied
          directly to the conv output), of every pooling layer, and of every
          block: a top-level submodule with image-shaped output (a residual
          block, a conv+BN stem). A block's output replaces the raw conv
          outputs inside it (those before BatchNorm say little).

Convs and denses are found with Flax's method interception, so any Linen
model works. Pooling and activations are plain functions (lib/layers.py),
which Flax cannot see; while tracing, `layers.pool` and
`layers.get_activation` are wrapped to record their outputs. All models reach
them through those module attributes, as the registries intend. The models are
plain Flax in their written order (conv, activation, pool), and so is the
trace: lib/cpu_gradients' speed rewrites apply only inside a train step.
"""
import contextlib
import dataclasses
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from lib import layers


@dataclasses.dataclass
class Layer:
  path: str            # 'conv0_0/conv'
  kind: str            # 'conv' | 'dense'
  kernel: np.ndarray   # conv [kh, kw, in/groups, out]; dense [in, out]
  input_shape: tuple   # of one example, without the batch axis
  output_shape: tuple


@dataclasses.dataclass
class Stage:
  name: str            # 'conv0_0/conv + relu', 'max pool 2x2'
  kind: str            # 'conv' | 'pool' | 'block'
  maps: np.ndarray     # [batch, h, w, channels], float32


@dataclasses.dataclass
class Trace:
  layers: list[Layer]
  stages: list[Stage]
  logits: np.ndarray   # [batch, num_outputs]

  @property
  def convs(self) -> list[Layer]:
    return [l for l in self.layers if l.kind == 'conv']


def _f32(x) -> np.ndarray:
  return np.asarray(jax.device_get(x), np.float32)


# Top-level modules that are layers, not blocks.
_NOT_BLOCKS = (nn.Conv, nn.Dense, nn.BatchNorm, nn.LayerNorm, nn.GroupNorm,
               nn.Dropout)


class _Recorder:

  def __init__(self):
    self.layers: list[Layer] = []
    self.stages: list[Stage] = []
    self._raw: list[Any] = []  # The live array behind each stage.

  def intercept(self, next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    mod = context.module
    if context.method_name != '__call__':
      return out
    if len(mod.path) == 1 and not isinstance(mod, _NOT_BLOCKS):
      self._block(mod.path[0], out)
    if not isinstance(mod, (nn.Conv, nn.Dense)):
      return out
    kind = 'conv' if isinstance(mod, nn.Conv) else 'dense'
    path = '/'.join(mod.path)
    self.layers.append(Layer(
        path, kind, _f32(mod.variables['params']['kernel']),
        tuple(np.shape(args[0])[1:]), tuple(np.shape(out)[1:])))
    if kind == 'conv' and np.ndim(out) == 4:
      self._add(Stage(path, 'conv', _f32(out)), out)
    return out

  def _add(self, stage: Stage, raw) -> None:
    self.stages.append(stage)
    self._raw.append(raw)

  def _block(self, name: str, out) -> None:
    if np.ndim(out) != 4 or (self._raw and self._raw[-1] is out):
      return  # Not an image, or already recorded (e.g. a conv block's pool).
    # Raw convs inside the block (before BatchNorm, before the shortcut) are
    # superseded by the block's output; activated ones and pools stay.
    keep = [i for i, s in enumerate(self.stages)
            if not (s.kind == 'conv' and s.name.startswith(name + '/')
                    and ' + ' not in s.name)]
    self.stages = [self.stages[i] for i in keep]
    self._raw = [self._raw[i] for i in keep]
    self._add(Stage(name, 'block', _f32(out)), out)

  def wrap_activation(self, name: str, fn):
    def activation(x):
      y = fn(x)
      # Applied straight to the latest conv output: the stage becomes the
      # conv's response after its nonlinearity.
      if (self._raw and self._raw[-1] is x and self.stages[-1].kind != 'pool'
          and ' + ' not in self.stages[-1].name):
        last = self.stages[-1]
        self.stages[-1] = Stage(f'{last.name} + {name}', last.kind, _f32(y))
        self._raw[-1] = y
      return y
    return activation

  def wrap_pool(self, pool_fn):
    def pool(name, x, window=2, stride=None, *args, **kwargs):
      y = pool_fn(name, x, window, stride, *args, **kwargs)
      if name != 'none':
        s = window if stride is None else stride
        label = f'{name} pool {window}x{window}' + (f'/{s}' if s != window else '')
        self._add(Stage(label, 'pool', _f32(y)), y)
      return y
    return pool


@contextlib.contextmanager
def _wrapped_registries(recorder: _Recorder):
  get, pool = layers.get_activation, layers.pool
  layers.get_activation = lambda name: recorder.wrap_activation(name, get(name))
  layers.pool = recorder.wrap_pool(pool)
  try:
    yield
  finally:
    layers.get_activation, layers.pool = get, pool


def trace(model: nn.Module, variables: dict, images: np.ndarray) -> Trace:
  """Runs `model` on float NHWC `images` and records layers and stages."""
  recorder = _Recorder()
  with _wrapped_registries(recorder), nn.intercept_methods(recorder.intercept):
    logits = model.apply(variables, np.asarray(images, np.float32), train=False)
  return Trace(recorder.layers, recorder.stages, _f32(logits))
