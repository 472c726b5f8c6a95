"""Run metrics as JSON lines (for reports) and TensorBoard event files.

tensorboardX writes the event files without TensorFlow (CLU's writers import
it). Only process 0 writes; the others get a writer that does nothing. A
training session that starts at a checkpoint's step (0: none) first cuts both
records back to what was written before that checkpoint, so every step
appears once in each.
"""
import importlib
import json
import os
import struct
import sys
import threading
import time
import uuid

import numpy as np

from lib import atomic, errors

METRICS_FILE = 'metrics.jsonl'
TENSORBOARD_DIR = 'tensorboard'


def kept(step: int, resumed_at_step: int) -> bool:
  """Whether a record survives a session that starts at resumed_at_step: the
  trainer writes everything of a step before that step's checkpoint."""
  return step <= resumed_at_step


def _plain(value):
  return value.item() if isinstance(value, np.generic | np.ndarray) else value


def _tensorboardx(module: str = 'tensorboardX'):
  """A tensorboardX module, imported without PyTorch.

  tensorboardX imports torch whenever it is installed (1.2-5 s of start-up on
  2 cores, by load), only to accept torch tensors, which we never pass. A None in
  sys.modules makes that import fail as if torch were absent.
  """
  with _IMPORTING:  # Seeds side by side open their first writers at once.
    if 'torch' in sys.modules or 'tensorboardX' in sys.modules:
      return importlib.import_module(module)
    sys.modules['torch'] = None
    try:
      return importlib.import_module(module)
    finally:
      del sys.modules['torch']


_IMPORTING = threading.Lock()


def _summary_writer_class():
  return _tensorboardx().SummaryWriter


class MetricWriter:

  def __init__(self, workdir: str, enabled: bool = True,
               resumed_at_step: int | None = None):
    """resumed_at_step: the step a training session starts from (0: a fresh
    start); None for a writer that only adds, e.g. visualization images."""
    self.enabled, self.workdir = enabled, workdir
    if not enabled:
      return
    self.path = os.path.join(workdir, METRICS_FILE)
    tb_dir = os.path.join(workdir, TENSORBOARD_DIR)
    # A resumed run repeats the steps after its last checkpoint (a fresh one
    # all of them): drop the records an interrupted run wrote for them, so
    # every step appears once.
    if resumed_at_step is not None:
      if os.path.exists(self.path):
        self._truncate(resumed_at_step)
      truncate_event_files(tb_dir, resumed_at_step)
    # tensorboardX names a file by the second it opens and opens it with 'wb':
    # a second writer in the same second (a quick restart, a visualization
    # after training) would erase the first's file without a suffix of its own.
    self.tb = _summary_writer_class()(
        tb_dir, filename_suffix=f'.{os.getpid()}.{uuid.uuid4().hex[:8]}')

  def _truncate(self, resumed_at_step: int):
    lines = [json.dumps(r) + '\n' for r in _records(self.path)
             if kept(r['step'], resumed_at_step)]
    with atomic.replacing(self.path) as f:
      f.writelines(lines)

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



def _event_file_records(path: str):
  """(the record's bytes as stored, its tensorboardX Event) for each whole
  record of a TFRecord event file. A torn or damaged record ends the file
  (a kill mid-write leaves one at the end): TensorBoard stops there too."""
  event_pb2 = _tensorboardx('tensorboardX.proto.event_pb2')
  masked_crc32c = _tensorboardx('tensorboardX.record_writer').masked_crc32c
  with open(path, 'rb') as f:
    data = f.read()
  offset = 0
  while offset + 12 <= len(data):
    header = data[offset:offset + 8]
    (length,) = struct.unpack('<Q', header)
    (header_crc,) = struct.unpack('<I', data[offset + 8:offset + 12])
    end = offset + 12 + length + 4
    if header_crc != masked_crc32c(header) or end > len(data):
      return
    payload = data[offset + 12:end - 4]
    if struct.unpack('<I', data[end - 4:end])[0] != masked_crc32c(payload):
      return
    yield data[offset:end], event_pb2.Event.FromString(payload)
    offset = end


def events(tb_dir: str):
  """Every event of the event files in tb_dir, file by file (oldest first)."""
  if not os.path.isdir(tb_dir):
    return
  for name in sorted(os.listdir(tb_dir)):
    if 'tfevents' in name:
      for _, event in _event_file_records(os.path.join(tb_dir, name)):
        yield event


def _event_kept(event, resumed_at_step: int) -> bool:
  if not event.HasField('summary'):  # The file's version record.
    return True
  return kept(event.step, resumed_at_step)


def truncate_event_files(tb_dir: str, resumed_at_step: int) -> None:
  """Rewrites each event file with only the records a session starting at
  resumed_at_step keeps (whole records, byte for byte; atomically)."""
  if not os.path.isdir(tb_dir):
    return
  for name in sorted(os.listdir(tb_dir)):
    path = os.path.join(tb_dir, name)
    if 'tfevents' not in name or not os.path.isfile(path):
      continue
    records = list(_event_file_records(path))
    keep = [raw for raw, event in records if _event_kept(event, resumed_at_step)]
    if len(keep) == len(records) and sum(map(len, keep)) == os.path.getsize(path):
      continue  # Nothing to drop, no torn tail.
    with atomic.replacing(path, 'wb') as f:
      f.writelines(keep)
