"""Orbax checkpoints of the train state and the data iterator's position.

Every process takes part (Orbax coordinates multi-host saves). A checkpoint
resumes on any topology: the state is read into this run's shardings
(Orbax reshards), and the grain iterator is positioned at the checkpoint's
step, the index of the next global batch, which is the same whatever the
number of devices, processes or grain workers (lib/data/pipeline.py
TrainBatches); the device pipeline's order is a function of the step. Saves are
async: the step loop goes on while the previous checkpoint is written, and a
checkpoint only counts once Orbax has committed it (half-written ones are
never restored). Whether a committed one can be used (its bytes, its fit to
the config, every process's vote) is lib/checkpoint_integrity.py's.
"""
import contextlib
import os
import threading
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from etils import epath

from lib import checkpoint_integrity as integrity
from lib import orbax_noise

CHECKSUMS = integrity.CHECKSUMS
ChecksumMismatch = integrity.ChecksumMismatch

# Orbax signals the stages of an async save by a process-wide operation id,
# so two managers saving at once in one process (seeds trained side by side
# in threads, lib/multi_seed.py) finish each other's saves half-written.
# Inside `one_save_at_a_time` every save therefore runs to its commit under
# one lock; the other threads go on training meanwhile.
_SAVE_LOCK = threading.Lock()
_serial_saves = [0]  # Open one_save_at_a_time blocks.


@contextlib.contextmanager
def one_save_at_a_time():
  _serial_saves[0] += 1
  try:
    yield
  finally:
    _serial_saves[0] -= 1


def _handlers():
  return {'state': ocp.StandardCheckpointHandler(),
          'data': grain.checkpoint.CheckpointHandler(),
          CHECKSUMS: ocp.JsonCheckpointHandler()}


class Checkpointer:
  """One run's checkpoint directory, open until `close` (or a with block)."""

  def __init__(self, directory: str, keep: int):
    self.directory = epath.Path(directory).absolute()
    # Before Orbax scans the steps (it logs and skips what it cannot list):
    # a step this process may not read is the user's to fix, for all processes.
    _, problem = integrity.attempt(self._list_steps)
    integrity.agree_refused(self.directory, problem,
                            f'listing the checkpoints in {self.directory}')
    self.manager = ocp.CheckpointManager(
        self.directory, item_handlers=_handlers(),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=True,
            # A save that a full disk or a kill cut short leaves its
            # temporary directory; free that space on the next start.
            cleanup_tmp_directories=True))
    # Closed by close(): Orbax's noise after a refused save is quieted
    # while this is open, and only then (lib/orbax_noise.py).
    self._quiet = contextlib.ExitStack()
    self._quiet.enter_context(orbax_noise.quieted())

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: Any, data_iter: grain.DatasetIterator | None):
    items = {'state': ocp.args.StandardSave(state),
             CHECKSUMS: ocp.args.JsonSave(integrity.checksums(state))}
    if data_iter is not None:
      items['data'] = grain.checkpoint.CheckpointSave(data_iter)
    if not _serial_saves[0]:
      self.manager.save(step, args=ocp.args.Composite(**items), force=True)
      return
    with _SAVE_LOCK:
      self.manager.save(step, args=ocp.args.Composite(**items), force=True)
      self.manager.wait_until_finished()

  def wait(self):
    self.manager.wait_until_finished()

  def restore(self, step: int, state_like: Any,
              data_iter: grain.DatasetIterator | None) -> Any:
    """Restores into the shapes, dtypes and shardings of `state_like`.

    `data_iter`, if given, is moved to the checkpoint's step in place: the
    saved iterator state (one file per process, grain's) is not read, so
    another process or worker count resumes as well. Raises
    ChecksumMismatch if the arrays read are not the bytes that were saved.
    """
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state_like)
    items = {'state': ocp.args.StandardRestore(abstract),
             CHECKSUMS: ocp.args.JsonRestore()}
    restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    integrity.verify(restored[CHECKSUMS], restored['state'])
    if data_iter is not None:
      data_iter.set_state({'next_batch': step})  # One global batch a step.
    return restored['state']

  def restore_latest(self, state_like: Any, data_iter) -> tuple[int, Any]:
    """(step, state) of the newest readable checkpoint, or (0, state_like).

    Unreadable ones are moved aside (never deleted); a misfit or a refused
    read is a UserError with nothing moved (lib/checkpoint_integrity.py).
    """
    start_position = data_iter.get_state() if data_iter is not None else None
    for step in sorted(self.manager.all_steps(), reverse=True):
      metadata, problem = integrity.attempt(lambda: self._metadata(step))
      if integrity.all_readable(self.directory, step, problem):
        integrity.check_fits(self.directory, step, metadata, state_like, data_iter)
        state, problem = integrity.attempt(
            lambda: self.restore(step, state_like, data_iter))
        if integrity.all_readable(self.directory, step, problem):
          return step, state
      self.manager.reload()  # The step was moved aside.
    if data_iter is not None:  # A failed restore may have moved it.
      data_iter.set_state(start_position)
    return 0, state_like

  def _metadata(self, step: int):
    # Orbax answers an unlistable directory with empty metadata, not an
    # error: list it first, so a permission problem says so.
    os.listdir(self.directory / str(step))
    metadata = self.manager.item_metadata(step)
    if 'state' not in metadata.keys() or metadata['state'] is None:
      raise ValueError(f'step {step} has no readable state metadata')
    return metadata

  def _list_steps(self) -> None:
    if self.directory.exists():
      for path in self.directory.iterdir():
        if path.name.isdigit():
          os.listdir(path)

  def committed_step(self) -> int | None:
    """The newest step on disk that Orbax committed (uncommitted ones keep
    a temporary suffix until the save completes)."""
    steps = [int(p.name) for p in self.directory.iterdir() if p.name.isdigit()]
    return max(steps, default=None)

  def close(self):
    try:
      self.manager.wait_until_finished()
    finally:
      try:
        self.manager.close()
      finally:
        self._quiet.close()  # A second close finds nothing to undo.

  def __enter__(self) -> 'Checkpointer':
    return self

  def __exit__(self, *_) -> None:
    self.close()


def load_state(directory: str, step: int | None = None,
               verify_checksums: bool = True) -> dict:
  """Reads a run's saved state as numpy arrays (for analysis and tests).

  Works whatever the device layout of the run that saved it. Raises
  ChecksumMismatch if its bytes changed since the save (unless
  `verify_checksums` is False).
  """
  manager = ocp.CheckpointManager(epath.Path(directory).absolute(),
                                  item_handlers={'state': ocp.StandardCheckpointHandler(),
                                                 CHECKSUMS: ocp.JsonCheckpointHandler()})
  step = manager.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f'no checkpoint in {directory}')
  metadata = manager.item_metadata(step)['state']
  here = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=here), metadata)
  items = {'state': ocp.args.StandardRestore(target)}
  if verify_checksums:
    items[CHECKSUMS] = ocp.args.JsonRestore()
  restored = manager.restore(step, args=ocp.args.Composite(**items))
  manager.close()
  if verify_checksums:
    integrity.verify(restored[CHECKSUMS], restored['state'])
  return jax.device_get(restored['state'])
