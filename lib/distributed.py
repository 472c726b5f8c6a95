"""Multi-process start-up: jax.distributed when there is more than one process.

Started under SLURM with several tasks (srun --ntasks=N, N > 1), JAX finds the
coordinator, process count and rank itself; elsewhere pass them explicitly.
A single process needs nothing. Cross-process collectives on CPU use gloo
(JAX's default).
"""
import faulthandler
import os

import jax

from lib import errors


def under_multitask_slurm() -> bool:
  """Inside an srun step with several tasks (not just inside an allocation)."""
  return (int(os.environ.get('SLURM_STEP_NUM_TASKS', os.environ.get('SLURM_NTASKS', '1'))) > 1
          and 'SLURM_STEP_ID' in os.environ)


# How long the survivors of a process that died (kill -9, a lost node) wait
# before JAX ends them too. JAX's default is 100 s; a missed heartbeat on a
# healthy job is rare well below that, and every second of it holds the job's
# nodes idle.
DEFAULT_TIMEOUT_SECONDS = 30


def initialize(coordinator_address: str = '', num_processes: int = 0,
               process_id: int = -1,
               timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS) -> None:
  """Joins the job's processes; a no-op for a single process.

  `timeout_seconds`: a process that stops answering for this long is taken
  for dead and the others stop (JAX names it in its last log line).
  """
  if timeout_seconds < 1:
    raise errors.UserError(f'--process_timeout_seconds={timeout_seconds} must be >= 1')
  timeouts = dict(heartbeat_timeout_seconds=timeout_seconds,
                  shutdown_timeout_seconds=max(timeout_seconds, 60))
  explicit = [bool(coordinator_address), num_processes > 0, process_id >= 0]
  if any(explicit) and not all(explicit):
    raise errors.UserError(
        'give all of --coordinator_address, --num_processes and --process_id, '
        'or none of them (under SLURM they are detected)')
  if all(explicit):
    if num_processes > 1:
      _quiet_abort()
      jax.distributed.initialize(coordinator_address, num_processes, process_id,
                                 **timeouts)
  elif under_multitask_slurm():
    _quiet_abort()
    jax.distributed.initialize(**timeouts)  # SLURM cluster auto-detection.


def _quiet_abort() -> None:
  """When a peer dies, JAX aborts the survivors with one log line naming the
  unhealthy task(s) ("stopped sending heartbeats: 1"); Python's fault
  handler (absl turns it on) would bury that line under a dump of every
  thread's stack, which says nothing about the dead process."""
  faulthandler.disable()
