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
              (lib/train_step.py), with the same outcomes and
              probabilities.
  'imagenet'  train: random resized crop (scale 0.08-1, ratio 3/4-4/3) to
              size x size, random flip (torchvision's RandomResizedCrop);
              eval: resize the shorter side to size*256/224, centre crop.
              Its images arrive as JPEG bytes (lib/data/pipeline.py) and
              are decoded here, knowing the crop: see `decode`.
"""
import io
import math
from typing import Any

import grain
import numpy as np
import simplejpeg
from PIL import Image

from lib import errors

NAMES = ('none', 'cifar', 'imagenet')
Example = dict[str, Any]


def _with_image(example: Example, image: np.ndarray) -> Example:
  return {**example, 'image': image}


def _size(data: bytes) -> tuple[int, int]:
  """(height, width) of an encoded image, from its header alone."""
  try:
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    return height, width
  except ValueError:  # Not a JPEG (a PNG): Pillow reads its header.
    with Image.open(io.BytesIO(data)) as image:
      return image.height, image.width


def decode(data: bytes, reduce_by: int = 1) -> np.ndarray:
  """Encoded bytes -> uint8 HxWx3, a JPEG at 1/reduce_by of its size.

  JPEGs go through simplejpeg, libjpeg-turbo like Pillow's and bitwise
  the same pixels at full size, but 1.0-1.5 ms instead of 1.7-1.8 ms to a
  numpy array for a 500x375 image (Pillow copies its own image into numpy;
  experiments/bench/imagenet_host.py). reduce_by (1, 2, 4 or 8) decodes at
  that DCT scale, which costs a fraction of a full decode: callers pass it
  only where the image reduced so is still at least the size they resize
  to. Anything else (PNG, CMYK) goes through Pillow.
  """
  try:
    if reduce_by > 1:
      height, width = _size(data)
      return simplejpeg.decode_jpeg(data, 'RGB',
                                    min_height=-(-height // reduce_by),
                                    min_width=-(-width // reduce_by))
    return simplejpeg.decode_jpeg(data, 'RGB')
  except ValueError:
    with Image.open(io.BytesIO(data)) as image:
      return np.asarray(image.convert('RGB'))


def _reduction(have: tuple[float, float], need: int) -> int:
  """The largest DCT reduction (1, 2, 4, 8) keeping a `have` (h, w)
  region at least `need` pixels on each side."""
  k = 1
  while k < 8 and min(have) / (2 * k) >= need:
    k *= 2
  return k


def _resize(image: np.ndarray, size: tuple[int, int],
            box: tuple[float, float, float, float] | None = None,
            flip: bool = False) -> np.ndarray:
  """Bilinear, antialiased resize to (height, width), of `box` if given,
  mirrored left-right if `flip`.

  box = (left, top, right, bottom) in pixels; Pillow crops and resizes in one
  pass. Pillow has no HxWx1 images, so the channel axis is dropped meanwhile.
  Pillow mirrors in 0.05 ms where numpy's reversed copy of a 224x224x3 image
  takes 0.65 ms (a strided copy, byte by byte).
  """
  gray = image.ndim == 3 and image.shape[-1] == 1
  pil = Image.fromarray(image[..., 0] if gray else image)
  pil = pil.resize((size[1], size[0]), Image.BILINEAR, box=box)
  out = np.asarray(pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else pil)
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
  ratio, resized to size x size; after 10 misses, a centre crop. With
  `flip`, then mirrored left-right with probability 1/2 (RandomFlip's
  outcome, drawn after the box, done by Pillow in the same pass)."""

  def __init__(self, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
               flip: bool = False):
    self.size = size
    self.scale = scale
    self.ratio = ratio
    self.flip = flip

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
    size = (self.size, self.size)
    if not isinstance(image, bytes):
      top, left, h, w = self._box(*image.shape[:2], rng)
      flip = self.flip and rng.random() < 0.5
      box = (left, top, left + w, top + h)
      return _with_image(example, _resize(image, size, box, flip))
    # The box is drawn from the header's size exactly as above (the same
    # boxes for the same seed); only then is the image decoded, at a DCT
    # scale the box allows.
    height, width = _size(image)
    top, left, h, w = self._box(height, width, rng)
    flip = self.flip and rng.random() < 0.5
    pixels = decode(image, _reduction((h, w), self.size))
    sy, sx = pixels.shape[0] / height, pixels.shape[1] / width
    box = (left * sx, top * sy, (left + w) * sx, (top + h) * sy)
    return _with_image(example, _resize(pixels, size, box, flip))


def _shorter_to(size: int, h: int, w: int) -> tuple[int, int]:
  # torchvision's rounding: the longer side is truncated.
  return (size, int(size * w / h)) if h <= w else (int(size * h / w), size)


class ResizeShorter(grain.transforms.Map):
  """Resizes so the shorter side is `size`, keeping the aspect ratio."""

  def __init__(self, size: int):
    self.size = size

  def map(self, example: Example) -> Example:
    image = example['image']
    if isinstance(image, bytes):
      image = decode(image, _reduction(_size(image), self.size))
    h, w = image.shape[:2]
    shape = _shorter_to(self.size, h, w)
    if shape == (h, w):
      return _with_image(example, image)
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
    return [RandomResizedCrop(image_size, flip=True)]
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
