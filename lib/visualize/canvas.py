"""matplotlib figures drawn off-screen (Agg) and turned into RGB arrays.

Every figure is rasterized once: the same uint8 HxWx3 array is written as the
PNG and logged to TensorBoard. Figures have a fixed size in pixels (DPI 100),
so a figure of a given content always has the same size on every machine.
"""

import matplotlib

matplotlib.use('Agg')  # Before any pyplot import anywhere: no display needed.

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from lib import atomic

DPI = 100


def new_figure(width_px: int, height_px: int) -> Figure:
  """A figure of exactly width_px x height_px pixels, laid out automatically."""
  fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI,
               layout='constrained')
  FigureCanvasAgg(fig)
  return fig


def to_rgb(fig: Figure) -> np.ndarray:
  """Renders `fig` to a uint8 [height, width, 3] array."""
  fig.canvas.draw()
  return np.array(fig.canvas.buffer_rgba())[..., :3]


def save_png(image: np.ndarray, path: str) -> None:
  with atomic.replacing(path, 'wb') as f:  # A reader never sees half a PNG.
    Image.fromarray(image).save(f, format='PNG')


def mosaic(tiles: np.ndarray, ncols: int, pad: int = 1) -> np.ndarray:
  """Tiles [n, h, w(, c)] into one image, with NaN (or 1.0 for RGB) gutters.

  Float input; grey tiles get NaN gutters so a colormap's 'bad' colour draws
  them, RGB tiles get white ones.
  """
  n, h, w = tiles.shape[:3]
  rgb = tiles.ndim == 4
  nrows = -(-n // ncols)
  shape = (nrows * (h + pad) + pad, ncols * (w + pad) + pad)
  out = np.full(shape + ((3,) if rgb else ()), 1.0 if rgb else np.nan,
                np.float32)
  for i in range(n):
    r, c = divmod(i, ncols)
    top, left = pad + r * (h + pad), pad + c * (w + pad)
    out[top:top + h, left:left + w] = tiles[i]
  return out


def upsample(tiles: np.ndarray, min_size: int = 24) -> np.ndarray:
  """Nearest-neighbour repeat of [n, h, w(, c)] tiles to >= min_size pixels,
  so the 1-pixel gutters of `mosaic` stay thin next to tiny (3x3) tiles."""
  factor = max(1, -(-min_size // max(tiles.shape[1:3])))
  return tiles.repeat(factor, axis=1).repeat(factor, axis=2)


def grid_columns(n: int, max_cols: int = 16) -> int:
  """Columns for n tiles: a grid about twice as wide as tall, <= max_cols."""
  return max(1, min(max_cols, n, int(np.ceil(np.sqrt(2 * n)))))


def normalize_each(tiles: np.ndarray) -> np.ndarray:
  """Min-max scales every tile to [0, 1] on its own (flat tiles -> 0.5)."""
  axes = tuple(range(1, tiles.ndim))
  lo = tiles.min(axis=axes, keepdims=True)
  span = tiles.max(axis=axes, keepdims=True) - lo
  return np.where(span > 0, (tiles - lo) / np.where(span > 0, span, 1), 0.5)
