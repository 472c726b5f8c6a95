"""A first dense layer's weights, one row per output unit, shown as images.

For logistic regression the layer is the whole model: one template per class
(the image that maximizes that class's score). For an MLP it is a grid of
hidden units: each unit's receptive field over the pixels. Grey input uses a
diverging colormap on one symmetric scale (red: the unit likes ink there,
blue: it dislikes it); RGB input is drawn in colour, each unit scaled alone.
"""
import numpy as np

from lib.visualize import canvas

MAX_UNITS = 64
WIDTH = 1000


def _layout(n: int, per_class: bool) -> tuple[int, int]:
  cols = min(n, 5) if per_class else canvas.grid_columns(n)
  return cols, -(-n // cols)


def figure_size(num_units: int, per_class: bool) -> tuple[int, int]:
  n = min(num_units, MAX_UNITS)
  cols, rows = _layout(n, per_class)
  tile = min((WIDTH - 180) / cols, 260)  # One class needs no full-width tile.
  return max(600, int(round(180 + cols * tile))), 100 + int(round(rows * tile * 1.12))


def pick_units(kernel: np.ndarray, per_class: bool) -> np.ndarray:
  """Unit indices to draw: every class, or the strongest hidden units."""
  n = kernel.shape[1]
  if per_class or n <= MAX_UNITS:
    return np.arange(min(n, MAX_UNITS))
  norms = np.linalg.norm(kernel, axis=0)
  return np.sort(np.argsort(-norms, kind='stable')[:MAX_UNITS])


def draw(kernel: np.ndarray, image_shape: tuple[int, int, int],
         layer_name: str, unit_names: list[str] | None) -> np.ndarray:
  """kernel: [h*w*c, units] of a dense layer on the flattened image.

  unit_names: one name per unit for a classifier layer (per-class
  templates); None for hidden units.
  """
  per_class = unit_names is not None
  units = pick_units(kernel, per_class)
  n_units = kernel.shape[1]
  images = kernel[:, units].T.reshape(len(units), *image_shape)
  rgb = image_shape[-1] == 3
  if not rgb:
    images = images.mean(axis=-1)  # [n, h, w]; 1 channel: exact.
  cols, rows = _layout(len(units), per_class)
  fig = canvas.new_figure(*figure_size(n_units, per_class))
  axes = fig.subplots(rows, cols, squeeze=False)
  limit = float(np.abs(images).max()) or 1.0
  shown = canvas.normalize_each(images) if rgb else images
  im = None
  for i, ax in enumerate(axes.flat):
    ax.set_xticks([])
    ax.set_yticks([])
    if i >= len(units):
      ax.set_axis_off()
      continue
    if rgb:
      ax.imshow(shown[i], interpolation='nearest')
    else:
      im = ax.imshow(shown[i], cmap='RdBu_r', vmin=-limit, vmax=limit,
                     interpolation='nearest')
    label = (f'class {unit_names[units[i]]}' if per_class
             else f'unit {units[i]}')
    ax.set_title(label, fontsize=10 if per_class else 7, pad=2)
  if im is not None:
    fig.colorbar(im, ax=axes, shrink=0.8, label='weight')
  h, w, c = image_shape
  if per_class:
    what = (f'{len(units)} class templates' if n_units > 1 else
            f'weights of the logit for class {unit_names[0]}')
  elif len(units) < n_units:
    what = f'{len(units)} of {n_units} hidden units with the largest weight norm'
  else:
    what = f'all {n_units} hidden units'
  scale = ('each unit scaled to its own range' if rgb else
           'red: positive, blue: negative, one shared scale')
  fig.suptitle(f'First layer {layer_name} ({h}x{w}x{c} -> {n_units}) as '
               f'images: {what}\n({scale})', fontsize=11)
  return canvas.to_rgb(fig)
