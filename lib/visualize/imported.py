"""The lecture's picture from imported weights: an ImageNet model's learned
first-layer filters and each stage's feature maps for one image.

`draw(init_from, image_path, out_dir)` needs no run and no dataset: the
model and its weights come from a torchvision or timm checkpoint
(lib/imported.py), the image is read as ImageNet evaluation reads it, and the
figures are the ones a run gets (filters.png, feature_maps_<image>.png).
"""
import os

import numpy as np

from lib import imported, train_step
from lib.visualize import canvas, feature_maps, filters, probe


def draw(init_from: str, image_path: str | None, out_dir: str,
         model_name: str | None = None, log=print) -> dict[str, str]:
  """Writes the figures into out_dir; returns {name: path}."""
  model, variables, name = imported.load(init_from, model_name, log)
  images = (imported.read_image(image_path)[None] if image_path else
            np.zeros((1, imported.IMAGE_SIZE, imported.IMAGE_SIZE, 3), np.uint8))
  trace = probe.trace(model, variables, np.asarray(train_step.to_float(images)))
  os.makedirs(out_dir, exist_ok=True)
  written = {}

  def add(figure: str, image: np.ndarray) -> None:
    path = os.path.join(out_dir, f'{figure}.png')
    canvas.save_png(image, path)  # Atomic: never half a PNG.
    written[figure] = path

  first = trace.convs[0]
  add('filters', filters.draw(first.kernel, f'{first.path} of {name}'))
  if image_path:
    stem = ''.join(ch if ch.isalnum() or ch in '-_' else '_' for ch in
                   os.path.splitext(os.path.basename(image_path))[0])
    short = [n.split(',')[0] for n in imported.imagenet_class_names()]
    add(f'feature_maps_{stem}', feature_maps.draw(
        images[0], trace.stages, 0, trace.logits[0], short,
        f'Feature maps of {name} ({os.path.basename(init_from)}): '
        f'{os.path.basename(image_path)}'))
  return written
