"""One image's journey through the network: every conv/pool stage's response.

One figure per input image. The top row shows the image and the model's class
probabilities; below, one row per stage (see probe.py) with the channels that
respond most strongly to this image (largest mean |activation|), all on the
row's shared colour scale so their strengths compare.
"""
import matplotlib
import numpy as np

from lib.visualize import canvas, probe

CHANNELS = 8      # Feature maps shown per stage.
MAX_STAGES = 16   # Deeper models show this many stages, evenly spread.
_LABEL_W, _MAP, _CBAR_W, _TITLE_H = 170, 95, 70, 55


def select_stages(stages: list[probe.Stage]) -> list[probe.Stage]:
  """All stages, or MAX_STAGES of them evenly spread (first and last kept)."""
  if len(stages) <= MAX_STAGES:
    return stages
  keep = np.unique(np.round(np.linspace(0, len(stages) - 1, MAX_STAGES)))
  return [stages[int(i)] for i in keep]


def figure_size(num_stages: int) -> tuple[int, int]:
  """(width, height) in pixels of a figure with this many stages shown."""
  rows = 1 + min(num_stages, MAX_STAGES)
  return _LABEL_W + CHANNELS * _MAP + _CBAR_W, _TITLE_H + rows * (_MAP + 15)


def probabilities(logits: np.ndarray) -> np.ndarray:
  """Class probabilities from one example's logits (1 output: sigmoid)."""
  logits = np.asarray(logits, np.float64)
  if logits.shape[-1] == 1:
    p = 1 / (1 + np.exp(-logits[0]))
    return np.array([1 - p, p])
  e = np.exp(logits - logits.max())
  return e / e.sum()


def draw(image: np.ndarray, stages: list[probe.Stage], index: int,
         logits: np.ndarray, class_names: list[str], title: str) -> np.ndarray:
  """Figure for example `index` of the traced batch.

  image: the uint8 [h, w, c] input as the dataset stores it.
  """
  shown = select_stages(stages)
  fig = canvas.new_figure(*figure_size(len(stages)))
  # Separate grids for the top row and the maps, so the bar chart's axis
  # labels do not push the map columns apart.
  outer = fig.add_gridspec(2, 1, height_ratios=[1, len(shown)])
  top = outer[0].subgridspec(1, 3, width_ratios=[_LABEL_W, CHANNELS * _MAP * 0.7,
                                                 CHANNELS * _MAP * 0.3])
  rows = outer[1].subgridspec(len(shown), 1)
  _input_row(fig, top, image, probabilities(logits), class_names)
  for r, stage in enumerate(shown):
    _stage_row(fig, rows[r, 0], stage, stage.maps[index])
  more = (f' ({len(shown)} of {len(stages)} stages)'
          if len(shown) < len(stages) else '')
  fig.suptitle(f'{title}{more}\neach row: the {CHANNELS} channels with the '
               'largest mean |activation| for this image, on one colour scale',
               fontsize=10)
  return canvas.to_rgb(fig)


def _input_row(fig, grid, image, probs, class_names):
  ax = fig.add_subplot(grid[0, 0])
  if image.shape[-1] == 3:
    ax.imshow(image, interpolation='nearest')
  else:
    ax.imshow(image[..., 0], cmap='gray', vmin=0, vmax=255,
              interpolation='nearest')
  ax.set_title(f'input {image.shape[0]}x{image.shape[1]}', fontsize=9)
  ax.set_xticks([])
  ax.set_yticks([])
  bars = fig.add_subplot(grid[0, 1])
  top = np.argsort(-probs)[:10]
  names = [class_names[i] if i < len(class_names) else str(i) for i in top]
  colors = ['#2a7' if j == 0 else '#8aa' for j in range(len(top))]
  bars.bar(range(len(top)), probs[top], color=colors)
  bars.set_xticks(range(len(top)), names, fontsize=8)
  bars.set_ylim(0, 1)
  bars.set_ylabel('probability', fontsize=8)
  bars.tick_params(axis='y', labelsize=7)
  bars.set_title(f'predicted {names[0]} ({100 * probs[top[0]]:.1f}%)',
                 fontsize=9)


def _stage_row(fig, cell, stage, maps):
  """One stage's strongest channels as a strip; maps: [h, w, channels]."""
  strength = np.abs(maps).mean(axis=(0, 1))
  channels = np.argsort(-strength, kind='stable')[:CHANNELS]
  chosen = np.moveaxis(maps[..., channels], -1, 0)  # [k, h, w]
  lo, hi = float(chosen.min()), float(chosen.max())
  if hi <= lo:
    hi = lo + 1e-6
  h, w, c = maps.shape
  tiles = canvas.upsample(chosen)
  strip = canvas.mosaic(tiles, CHANNELS)
  ax = fig.add_subplot(cell)
  cmap = matplotlib.colormaps['viridis'].with_extremes(bad='white')
  im = ax.imshow(strip, cmap=cmap, vmin=lo, vmax=hi, interpolation='nearest')
  step = tiles.shape[2] + 1
  ax.set_xticks([1 + step * j + (step - 2) / 2 for j in range(len(channels))],
                [f'ch {ch}' for ch in channels], fontsize=7)
  ax.tick_params(axis='x', length=0, pad=1)
  ax.set_yticks([])
  for side in ax.spines.values():
    side.set_visible(False)
  ax.set_ylabel(f'{stage.name}\n{h}x{w}x{c}', rotation=0, ha='right',
                va='center', fontsize=8)
  # The strip keeps square pixels and sits at the left of its cell; its
  # colour bar goes right next to it (placed in data coordinates).
  ax.set_anchor('W')
  sh, sw = strip.shape
  cax = ax.inset_axes([sw + 0.01 * sw, -0.5, 0.02 * sw, sh],
                      transform=ax.transData)
  cbar = fig.colorbar(im, cax=cax)
  cbar.ax.tick_params(labelsize=7)
