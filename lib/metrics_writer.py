"""Run metrics as JSON lines (for reports) and TensorBoard event files.

tensorboardX writes the event files without TensorFlow (CLU's writers import
it). Only process 0 writes; the others get a writer that does nothing.
"""
import json
import os
import sys
import time

import numpy as np

from lib import errors

METRICS_FILE = 'metrics.jsonl'


def _plain(value):
  return value.item() if isinstance(value, np.generic | np.ndarray) else value


def _summary_writer_class():
  """tensorboardX's SummaryWriter, imported without PyTorch.

  tensorboardX imports torch whenever it is installed (1.2-5 s of start-up on
  2 cores, by load), only to accept torch tensors, which we never pass. A None in
  sys.modules makes that import fail as if torch were absent.
  """
  if 'torch' in sys.modules or 'tensorboardX' in sys.modules:
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    return SummaryWriter
  sys.modules['torch'] = None
  try:
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  finally:
    del sys.modules['torch']
  return SummaryWriter


class MetricWriter:

  def __init__(self, workdir: str, enabled: bool = True,
               resumed_at_step: int | None = None):
    """resumed_at_step: the step a training session starts from (0: a fresh
    start); None for a writer that only adds, e.g. visualization images."""
    self.enabled, self.workdir = enabled, workdir
    if not enabled:
      return
    self.path = os.path.join(workdir, METRICS_FILE)
    # A resumed run repeats the steps after its last checkpoint (a fresh one
    # all of them): drop the lines an interrupted run wrote for them, so
    # every step appears once.
    if resumed_at_step is not None and os.path.exists(self.path):
      self._truncate_after(resumed_at_step)
    self.tb = _summary_writer_class()(os.path.join(workdir, 'tensorboard'))

  def _truncate_after(self, step: int):
    kept = [json.dumps(r) + '\n' for r in _records(self.path) if r['step'] <= step]
    tmp = self.path + '.tmp'
    with open(tmp, 'w') as f:
      f.writelines(kept)
    os.replace(tmp, self.path)  # Atomic: never a half-written metrics file.

  def write(self, split: str, step: int, metrics: dict):
    if not self.enabled:
      return
    record = {'split': split, 'step': int(step), 'time': time.time(),
              **{k: _plain(v) for k, v in metrics.items()}}
    with open(self.path, 'a') as f:
      f.write(json.dumps(record) + '\n')
    for k, v in metrics.items():
      if isinstance(_plain(v), int | float):
        self.tb.add_scalar(f'{split}/{k}', _plain(v), step)

  def add_image(self, tag: str, image_hwc: np.ndarray, step: int):
    if self.enabled:
      self.tb.add_image(tag, image_hwc, step, dataformats='HWC')

  def close(self):
    if self.enabled:
      self.tb.close()


def _records(path: str) -> list[dict]:
  """The file's records. A torn last line (the disk filled, the power went
  while it was written) is dropped: its step runs again on resume."""
  with open(path) as f:
    lines = [line for line in f if line.strip()]
  records = []
  for i, line in enumerate(lines):
    try:
      records.append(json.loads(line))
    except json.JSONDecodeError:
      if i < len(lines) - 1:
        raise errors.UserError(
            f'{path}: line {i + 1} is not JSON; the file was edited or damaged '
            'mid-way; repair or remove that line') from None
  return records


def read(workdir: str) -> list[dict]:
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  return _records(path)

