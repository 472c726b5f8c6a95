"""An ImageNet model from imported weights alone, and images as it evaluates them.

For predictions and pictures from a torchvision or timm checkpoint without a
run of ours (experiments.predict, experiments.visualize --init_from): the
model is named or found from the file's keys (lib/pretrained.TABLES), built
with ImageNet's input standardization, and given the file's weights; images
are read as torchvision's evaluation reads them (shorter side to 256, the
centre 224x224; lib/data/augment.py's 'imagenet' eval transforms).
ImageNet's class names are those TFDS ships (in index order, in its SI-Score
dataset's labels module).
"""
import ast
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, UnidentifiedImageError

from configs import common
from lib import errors, models, pretrained
from lib.data import augment
from lib.models import input_scaling

IMAGENET_CLASSES = 1000
IMAGE_SIZE = 224


def model_config(name: str, init_from: str):
  return common.model(name, init_from=init_from,
                      input_mean=input_scaling.IMAGENET_MEAN,
                      input_std=input_scaling.IMAGENET_STD)


def guess_model(path: str) -> str:
  """The zoo model whose table's keys the checkpoint holds."""
  tensors = pretrained.keys_of(path)
  for name, table in pretrained.TABLES.items():
    wanted = {f'{m}.weight' for m in table}
    if wanted <= tensors and not {k for k in tensors if k.endswith('.weight')
                                  } - wanted:
      return name
  raise errors.UserError(
      f'{path}: its tensors are none of the zoo models with a published '
      f"counterpart ({', '.join(pretrained.TABLES)}); name one with --model")


def load(init_from: str, name: str | None = None,
         log=lambda line: None) -> tuple:
  """(model, variables, name) for the checkpoint at `init_from`."""
  name = name or guess_model(init_from)
  config = model_config(name, init_from)
  model = models.build(config, IMAGENET_CLASSES)
  shapes = jax.eval_shape(lambda: model.init(
      jax.random.PRNGKey(0), jnp.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 3)),
      train=False))
  loaded = pretrained.read(config, shapes, log)
  if loaded['params'].keys() != shapes['params'].keys():
    missing = sorted(set(shapes['params']) - set(loaded['params']))
    raise errors.UserError(
        f'{init_from}: {", ".join(missing)} not in the file; predictions '
        f'need every layer of {name} with its {IMAGENET_CLASSES} ImageNet '
        'classes')
  variables = {'params': loaded['params']}
  if loaded['batch_stats']:
    variables['batch_stats'] = loaded['batch_stats']
  return model, jax.tree.map(jnp.asarray, variables), name


@functools.cache
def imagenet_class_names() -> list[str]:
  """ImageNet's 1000 class names, index order, from TFDS's files."""
  import tensorflow_datasets  # pylint: disable=g-import-not-at-top
  path = os.path.join(os.path.dirname(tensorflow_datasets.__file__),
                      'datasets', 'siscore', 'labels.py')
  # Parsed, not imported: importing it would import TFDS's dataset modules.
  for node in ast.parse(open(path).read()).body:
    if (isinstance(node, ast.Assign) and
        getattr(node.targets[0], 'id', '') == 'IMAGENET_LABELS_LIST'):
      names = ast.literal_eval(node.value)
      assert len(names) == IMAGENET_CLASSES, path
      return names
  raise RuntimeError(f'no IMAGENET_LABELS_LIST in {path}')


def read_image(path: str, size: int = IMAGE_SIZE,
               channels: int = 3) -> np.ndarray:
  """A file as uint8 [size, size, channels], as an ImageNet evaluation
  reads it: shorter side to size*256/224, centre crop. One-line UserError
  for a file that is missing or not an image."""
  try:
    with Image.open(path) as pil:
      pil = pil.convert('L' if channels == 1 else 'RGB')
      image = np.asarray(pil, np.uint8)
  except FileNotFoundError:
    raise errors.UserError(f'--image: no such file {path}') from None
  except (UnidentifiedImageError, OSError, ValueError) as e:
    first = (str(e).splitlines() or [type(e).__name__])[0]
    raise errors.UserError(f'--image: cannot read {path} as an image '
                           f'({first})') from None
  if channels == 1:
    image = image[..., None]
  example = {'image': image}
  for transform in augment.eval_transforms('imagenet', size):
    example = transform.map(example)
  return example['image']


def top_k(logits: np.ndarray, names: list[str], k: int = 5) -> list[tuple]:
  """[(rank, probability, class name)] of the k likeliest classes."""
  logits = np.asarray(logits, np.float64)
  probs = np.exp(logits - logits.max())
  probs /= probs.sum()
  order = np.argsort(-probs, kind='stable')[:k]
  return [(r + 1, float(probs[i]), names[i] if i < len(names) else str(i))
          for r, i in enumerate(order)]
