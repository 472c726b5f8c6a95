"""Multi-process start-up: jax.distributed when there is more than one process.

Started under SLURM with several tasks (srun --ntasks=N, N > 1), JAX finds the
coordinator, process count and rank itself; elsewhere pass them explicitly.
A single process needs nothing. Cross-process collectives on CPU use gloo
(JAX's default).
"""
import os

import jax

from lib import errors


def under_multitask_slurm() -> bool:
  """Inside an srun step with several tasks (not just inside an allocation)."""
  return (int(os.environ.get('SLURM_STEP_NUM_TASKS', os.environ.get('SLURM_NTASKS', '1'))) > 1
          and 'SLURM_STEP_ID' in os.environ)


def initialize(coordinator_address: str = '', num_processes: int = 0,
               process_id: int = -1) -> None:
  """Joins the job's processes; a no-op for a single process."""
  explicit = [bool(coordinator_address), num_processes > 0, process_id >= 0]
  if any(explicit) and not all(explicit):
    raise errors.UserError(
        'give all of --coordinator_address, --num_processes and --process_id, '
        'or none of them (under SLURM they are detected)')
  if all(explicit):
    if num_processes > 1:
      jax.distributed.initialize(coordinator_address, num_processes, process_id)
  elif under_multitask_slurm():
    jax.distributed.initialize()  # SLURM cluster auto-detection.
