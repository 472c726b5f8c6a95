"""Orbax checkpoints of the train state and the data iterator's position.

Every process takes part (Orbax coordinates multi-host saves). Saves are
async: the step loop goes on while the previous checkpoint is written, and a
checkpoint only counts once Orbax has committed it (half-written ones are
never restored).
"""
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from etils import epath


class Checkpointer:

  def __init__(self, directory: str, keep: int):
    self.manager = ocp.CheckpointManager(
        epath.Path(directory).absolute(),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=True))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: Any, data_iter: grain.DatasetIterator | None):
    items = {'state': ocp.args.StandardSave(state)}
    if data_iter is not None:
      items['data'] = grain.checkpoint.CheckpointSave(data_iter)
    self.manager.save(step, args=ocp.args.Composite(**items), force=True)

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

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()


def load_state(directory: str, step: int | None = None) -> dict:
  """Reads a run's saved state as numpy arrays (for analysis and tests).

  Works whatever the device layout of the run that saved it (as numpy, not
  as arrays placed on this process's devices).
  """
  manager = ocp.CheckpointManager(
      epath.Path(directory).absolute(),
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
