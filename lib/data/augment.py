"""Data augmentation as grain transforms, in numpy + Pillow (no TensorFlow).

Every transform maps an example {'image': uint8 HxWxC array, 'label': int, ...}
to a new dict with a new image (the input is never modified) and keeps the
uint8 dtype; scaling to floats is the pipeline's job. Random transforms are
grain RandomMaps: grain passes a numpy Generator seeded per example, so the
same seed gives the same augmentation.

  'none'      no transforms.
  'cifar'     train: zero-pad 4 (or data.pad_mode), random crop back to
              size, random flip (He et al. 2015, sec. 4.2); eval: none (a
              centre crop if image_size is set, to match the training
              crops). With data.pipeline='device' the train step does it
              (lib/data/device_augment.py), with the same outcomes and
              probabilities.
  'imagenet'  train: random resized crop (scale 0.08-1, ratio 3/4-4/3) to
              size x size, random flip (torchvision's RandomResizedCrop);
              eval: resize the shorter side to size*256/224, centre crop.
"""
import math
from typing import Any

import grain
import numpy as np
from PIL import Image

from lib import errors

NAMES = ('none', 'cifar', 'imagenet')
Example = dict[str, Any]


def _with_image(example: Example, image: np.ndarray) -> Example:
  return {**example, 'image': image}


def _resize(image: np.ndarray, size: tuple[int, int],
            box: tuple[float, float, float, float] | None = None) -> np.ndarray:
  """Bilinear, antialiased resize to (height, width), of `box` if given.

  box = (left, top, right, bottom) in pixels; Pillow crops and resizes in one
  pass. Pillow has no HxWx1 images, so the channel axis is dropped meanwhile.
  """
  gray = image.ndim == 3 and image.shape[-1] == 1
  pil = Image.fromarray(image[..., 0] if gray else image)
  out = np.asarray(pil.resize((size[1], size[0]), Image.BILINEAR, box=box))
  return out[..., None] if gray else out


class RandomCrop(grain.transforms.RandomMap):
  """Pads `padding` pixels on each side, then crops `size` at random."""

  def __init__(self, size: int = 0, padding: int = 4, mode: str = 'constant'):
    self.size = size  # 0: the input's own size (the usual CIFAR recipe).
    self.padding = padding
    self.mode = mode  # np.pad mode: 'constant' (zeros, the paper), 'reflect'.

  def random_map(self, example: Example, rng: np.random.Generator) -> Example:
    image = example['image']
    p = self.padding
    padded = np.pad(image, ((p, p), (p, p), (0, 0)), mode=self.mode)
    h = w = self.size
    if not self.size:
      h, w = image.shape[:2]
    top = rng.integers(0, padded.shape[0] - h + 1)
    left = rng.integers(0, padded.shape[1] - w + 1)
    return _with_image(example, padded[top:top + h, left:left + w])


class RandomFlip(grain.transforms.RandomMap):
  """Mirrors the image left-right with probability `p`."""

  def __init__(self, p: float = 0.5):
    self.p = p

  def random_map(self, example: Example, rng: np.random.Generator) -> Example:
    if rng.random() < self.p:
      return _with_image(example, np.ascontiguousarray(example['image'][:, ::-1]))
    return example


class RandomResizedCrop(grain.transforms.RandomMap):
  """torchvision's RandomResizedCrop: a random box of random area and aspect
  ratio, resized to size x size; after 10 misses, a centre crop."""

  def __init__(self, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    self.size = size
    self.scale = scale
    self.ratio = ratio

  def _box(self, height: int, width: int, rng: np.random.Generator):
    area = height * width
    log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
    for _ in range(10):
      target = area * rng.uniform(*self.scale)
      aspect = math.exp(rng.uniform(*log_ratio))
      w = round(math.sqrt(target * aspect))
      h = round(math.sqrt(target / aspect))
      if 0 < w <= width and 0 < h <= height:
        top = rng.integers(0, height - h + 1)
        left = rng.integers(0, width - w + 1)
        return top, left, h, w
    # Fallback: the largest centred box whose aspect is within `ratio`.
    aspect = width / height
    if aspect < self.ratio[0]:
      w, h = width, round(width / self.ratio[0])
    elif aspect > self.ratio[1]:
      h, w = height, round(height * self.ratio[1])
    else:
      h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w

  def random_map(self, example: Example, rng: np.random.Generator) -> Example:
    image = example['image']
    top, left, h, w = self._box(*image.shape[:2], rng)
    box = (left, top, left + w, top + h)
    return _with_image(example, _resize(image, (self.size, self.size), box))


class ResizeShorter(grain.transforms.Map):
  """Resizes so the shorter side is `size`, keeping the aspect ratio."""

  def __init__(self, size: int):
    self.size = size

  def map(self, example: Example) -> Example:
    image = example['image']
    h, w = image.shape[:2]
    # torchvision's rounding: the longer side is truncated.
    if h <= w:
      shape = (self.size, int(self.size * w / h))
    else:
      shape = (int(self.size * h / w), self.size)
    if shape == (h, w):
      return example
    return _with_image(example, _resize(image, shape))


class CenterCrop(grain.transforms.Map):
  """Crops the central size x size window."""

  def __init__(self, size: int):
    self.size = size

  def map(self, example: Example) -> Example:
    image = example['image']
    h, w = image.shape[:2]
    if h < self.size or w < self.size:
      raise ValueError(
          f'CenterCrop({self.size}) needs an image at least that large; '
          f'got {h}x{w}')
    top = int(round((h - self.size) / 2))
    left = int(round((w - self.size) / 2))
    return _with_image(
        example, image[top:top + self.size, left:left + self.size])


def _check(name: str, image_size: int) -> None:
  if name not in NAMES:
    raise errors.unknown_name('augment', name, NAMES)
  if name == 'imagenet' and image_size <= 0:
    raise errors.UserError(
        "augment 'imagenet' crops to a fixed size; set "
        "config.data.image_size (e.g. 224)")


def train_transforms(name: str, image_size: int = 0,
                     pad_mode: str = 'constant') -> list[Any]:
  """Training-time transforms; image_size 0 keeps CIFAR's native size;
  `pad_mode`: np.pad's mode for the 'cifar' padding (zeros by default)."""
  _check(name, image_size)
  if name == 'cifar':
    return [RandomCrop(image_size, padding=4, mode=pad_mode), RandomFlip()]
  if name == 'imagenet':
    return [RandomResizedCrop(image_size), RandomFlip()]
  return []


def eval_transforms(name: str, image_size: int = 0) -> list[Any]:
  """Evaluation-time transforms: deterministic."""
  _check(name, image_size)
  if name == 'imagenet':
    return [ResizeShorter(round(image_size * 256 / 224)),
            CenterCrop(image_size)]
  if name == 'cifar' and image_size > 0:
    return [CenterCrop(image_size)]  # Same shape as the training crops.
  return []
