"""The first convolution layer's kernels as a grid of little images.

Kernels that see RGB input are drawn in colour, each scaled to [0, 1] on its
own (as in Krizhevsky et al.'s figure 3). Grey-input kernels share one
symmetric scale, zero in the middle, so a colour bar reads off weight values
and weak filters look weak.
"""
import matplotlib
import numpy as np

from lib.visualize import canvas

MAX_FILTERS = 256
WIDTH = 900
_PAD = 4  # Gutter pixels between filters (upsampled to >= 24 pixels each).


def _tiles(kernel: np.ndarray) -> tuple[np.ndarray, bool]:
  """[kh, kw, in, out] -> ([out, kh, kw(, 3)] tiles, is_rgb)."""
  tiles = np.moveaxis(kernel, -1, 0)  # [out, kh, kw, in]
  if tiles.shape[-1] == 3:
    return tiles, True
  # Grey input, or another channel count: the mean over input channels.
  return tiles.mean(axis=-1), False


def figure_size(num_filters: int) -> tuple[int, int]:
  """(width, height) in pixels of the figure for this many filters."""
  n = min(num_filters, MAX_FILTERS)
  cols = canvas.grid_columns(n)
  rows = -(-n // cols)
  return WIDTH, 110 + int(round(rows * 680 / cols))


def draw(kernel: np.ndarray, layer_name: str) -> np.ndarray:
  """RGB image of the filter grid of a conv kernel [kh, kw, in, out]."""
  kh, kw, cin, cout = kernel.shape
  tiles, rgb = _tiles(kernel.astype(np.float32))
  shown = tiles[:MAX_FILTERS]
  n = len(shown)
  cols = canvas.grid_columns(n)
  fig = canvas.new_figure(*figure_size(cout))
  ax = fig.add_subplot()
  more = f', first {n} of {cout}' if n < cout else ''
  if rgb:
    grid = canvas.mosaic(canvas.upsample(canvas.normalize_each(shown)), cols,
                         pad=_PAD)
    ax.imshow(grid, interpolation='nearest')
    scale = 'each filter scaled to its own range'
  else:
    limit = float(np.abs(shown).max()) or 1.0
    grid = canvas.mosaic(canvas.upsample(shown), cols, pad=_PAD)
    im = ax.imshow(grid, cmap=_grey_with_gutter(), vmin=-limit, vmax=limit,
                   interpolation='nearest')
    fig.colorbar(im, ax=ax, shrink=0.8, label='weight')
    what = 'grey input' if cin == 1 else f'mean over {cin} input channels'
    scale = f'{what}, one shared scale'
  ax.set_title(f'First conv layer {layer_name}: {cout} filters of '
               f'{kh}x{kw}x{cin}{more}\n(row by row from filter 0; {scale})',
               fontsize=11)
  ax.set_axis_off()
  return canvas.to_rgb(fig)


def _grey_with_gutter():
  # Gutters between filters in a colour that is clearly not a weight.
  return matplotlib.colormaps['gray'].with_extremes(bad='#8fb0d8')
