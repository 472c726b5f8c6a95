"""Device mesh and shardings for data parallelism (a 1-D 'data' axis).

jit + NamedSharding replaces pmap (now in maintenance mode): the train step
is written for the global batch and XLA inserts the gradient all-reduce.
"""
import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

DATA_AXIS = 'data'


def make_mesh() -> jax.sharding.Mesh:
  """One axis over every device of every process.

  Auto axis type: the step is written for the global batch and XLA's SPMD
  partitioner decides the collectives (make_mesh now defaults to Explicit).
  """
  return jax.make_mesh((jax.device_count(),), (DATA_AXIS,),
                       axis_types=(jax.sharding.AxisType.Auto,))


def batch_sharding(mesh) -> NamedSharding:
  """Leading (batch) dimension split over the 'data' axis."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def global_batch(local_batch: dict[str, np.ndarray], mesh) -> dict[str, jax.Array]:
  """Assembles each process's local batch into one global array per key."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, v)
          for k, v in local_batch.items()}


def replicate(tree, mesh):
  """Puts host values on every device (process-local values must agree)."""
  sharding = replicated(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)),
      tree)
