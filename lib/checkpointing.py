"""Orbax checkpoints of the train state and the data iterator's position.

Every process takes part (Orbax coordinates multi-host saves). Saves are
async: the step loop goes on while the previous checkpoint is written, and a
checkpoint only counts once Orbax has committed it (half-written ones are
never restored). A committed checkpoint that cannot be read (truncated or
corrupted later) is moved aside, never deleted, and the previous one is used.
"""
import os
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from etils import epath
from jax.experimental import multihost_utils

from lib import errors, progress

QUARANTINE = 'unreadable_checkpoints'


def _handlers():
  return {'state': ocp.StandardCheckpointHandler(),
          'data': grain.checkpoint.CheckpointHandler()}


class Checkpointer:

  def __init__(self, directory: str, keep: int):
    self.directory = epath.Path(directory).absolute()
    self.manager = ocp.CheckpointManager(
        self.directory, item_handlers=_handlers(),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=True))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: Any, data_iter: grain.DatasetIterator | None):
    items = {'state': ocp.args.StandardSave(state)}
    if data_iter is not None:
      items['data'] = grain.checkpoint.CheckpointSave(data_iter)
    self.manager.save(step, args=ocp.args.Composite(**items), force=True)

  def wait(self):
    self.manager.wait_until_finished()

  def check_compatible(self, step: int, state_like: Any) -> None:
    """UserError if the saved parameters have other shapes than the config's."""
    saved = self.manager.item_metadata(step)['state']['params']
    want = jax.tree_util.tree_flatten_with_path(state_like.params)[0]
    have = {jax.tree_util.keystr(p): tuple(m.shape) for p, m in
            jax.tree_util.tree_flatten_with_path(saved)[0]}
    for path, leaf in want:
      key = jax.tree_util.keystr(path)
      if have.get(key) != tuple(leaf.shape):
        raise errors.UserError(
            f'the checkpoint in {self.directory} does not fit this config: '
            f'params{key} is {have.get(key, "absent")} there but '
            f'{tuple(leaf.shape)} here; use a new --workdir or the run\'s '
            f'own config.json')
    extra = sorted(set(have) - {jax.tree_util.keystr(p) for p, _ in want})
    if extra:
      raise errors.UserError(
          f'the checkpoint in {self.directory} does not fit this config: it '
          f'has params{extra[0]} which this model lacks; use a new --workdir')

  def restore(self, step: int, state_like: Any,
              data_iter: grain.DatasetIterator | None) -> Any:
    """Restores into the shapes, dtypes and shardings of `state_like`.

    `data_iter`, if given, is moved to the saved position in place.
    """
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state_like)
    items = {'state': ocp.args.StandardRestore(abstract)}
    if data_iter is not None:
      items['data'] = grain.checkpoint.CheckpointRestore(data_iter)
    return self.manager.restore(step, args=ocp.args.Composite(**items))['state']

  def restore_latest(self, state_like: Any, data_iter) -> tuple[int, Any]:
    """(step, state) of the newest readable checkpoint, or (0, state_like)."""
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        self.check_compatible(step, state_like)
        return step, self.restore(step, state_like, data_iter)
      except errors.UserError:
        raise
      except Exception as e:  # pylint: disable=broad-except
        # Orbax/tensorstore raise many types for unreadable data.
        moved = self._quarantine(step)
        progress.say(f'warning: the checkpoint at step {step} is unreadable '
                     f'({type(e).__name__}: {str(e).splitlines()[0][:200]}); '
                     f'moved it to {moved} and trying the previous one')
    return 0, state_like

  def _quarantine(self, step: int) -> str:
    target = self.directory.parent / QUARANTINE / str(step)
    if jax.process_index() == 0:
      target.parent.mkdir(parents=True, exist_ok=True)
      os.replace(self.directory / str(step), target)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f'quarantine {step}')
    self.manager.reload()
    return str(target)

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()


def load_state(directory: str, step: int | None = None) -> dict:
  """Reads a run's saved state as numpy arrays (for analysis and tests).

  Works whatever the device layout of the run that saved it.
  """
  manager = ocp.CheckpointManager(epath.Path(directory).absolute(),
                                  item_handlers={'state': ocp.StandardCheckpointHandler()})
  step = manager.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f'no checkpoint in {directory}')
  metadata = manager.item_metadata(step)['state']
  here = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=here), metadata)
  restored = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(target)))
  manager.close()
  return jax.device_get(restored['state'])
