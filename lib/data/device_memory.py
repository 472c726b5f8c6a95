"""Whether a dataset fits in the accelerator's memory (data.pipeline='device').

Checked when the config is read, before anything is decoded or written: a
split that does not fit is refused in one line naming its size, the memory
free and data.pipeline=grain, instead of an allocator error mid-start.
"""
import math
import os

import jax

from lib import errors


def free_bytes(device: jax.Device | None = None) -> int:
  """Memory free on `device` (default: this process's first): the
  allocator's limit less what is in use on accelerators; on CPU, the host's
  available memory shared by its (forced) devices, each holding a copy."""
  device = device or jax.local_devices()[0]
  stats = device.memory_stats() or {}
  if 'bytes_limit' in stats:
    return int(stats['bytes_limit']) - int(stats.get('bytes_in_use', 0))
  return _host_available() // max(1, jax.local_device_count())


def _host_available() -> int:
  try:
    with open('/proc/meminfo') as f:
      for line in f:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_AVPHYS_PAGES')


def _size(n: float) -> str:
  for unit, scale in (('GB', 1e9), ('MB', 1e6), ('kB', 1e3)):
    if n >= scale:
      return f'{n / scale:.1f} {unit}'
  return f'{int(n)} bytes'


def check(dataset: str, image_shape: tuple[int, ...], num_images: int,
          free: int, where: str) -> None:
  """UserError unless `num_images` uint8 images (and their int32 labels)
  fit in `free` bytes."""
  need = num_images * (math.prod(image_shape) + 4)
  if need > free:
    shape = 'x'.join(map(str, image_shape))
    raise errors.UserError(
        f"data.pipeline='device' keeps the {dataset} splits on each device: "
        f'{_size(need)} ({num_images:,} images of {shape} uint8), more than '
        f'the {_size(free)} free on {where}; set --config.data.pipeline=grain '
        'to stream them from the host')
