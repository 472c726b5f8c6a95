r"""Trains one config into a run directory; starting it again resumes it.

  python -m experiments.train --config=configs/cnn.py:digits --workdir=runs/cnn
  python -m experiments.train --config=configs/cnn.py:digits \
      --config.model.activation=tanh --config.seed=3 --workdir=runs/cnn_tanh_s3

Several processes (multi-host): under `srun --ntasks=N` nothing more is
needed; elsewhere start each process with --coordinator_address=HOST:PORT
--num_processes=N --process_id=I. To submit to SLURM (what `./launch.sh slurm`
does): add --sbatch --nodes=N --ntasks_per_node=M [--partition= --time= --cpus=
--gpus= --mem=]; the config is checked, WORKDIR/sbatch.sh written and its path
printed.
"""
# Before anything heavy is imported: a SIGTERM or Ctrl-C during start-up
# stops the run at its first step with a checkpoint (lib/preemption.py).
from lib import preemption  # pylint: disable=g-bad-import-order
preemption.install(interrupt=True)

import os
import sys

from absl import flags
from ml_collections import config_flags

from experiments import cli

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file, optionally with `:arg`.', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', '', 'host:port of process 0, for multi-process runs.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', 0, 'Processes in the run.')
_PROCESS_ID = flags.DEFINE_integer('process_id', -1, 'This process\'s rank.')
_PROCESS_TIMEOUT = flags.DEFINE_integer(
    'process_timeout_seconds', 30, 'Multi-process runs: after this long '
    'without a heartbeat from a process, the others stop too.')
_ALLOW_CHANGE = flags.DEFINE_bool(
    'allow_config_change', False, 'Resume a run whose config.json differs from '
    'this config in what it trains (config.json records the change).')
_SBATCH = flags.DEFINE_bool('sbatch', False, 'Write WORKDIR/sbatch.sh for '
                            'SLURM, print its path, train nothing.')
_NODES = flags.DEFINE_integer('nodes', 1, 'SLURM nodes (with --sbatch).')
_TASKS = flags.DEFINE_integer('ntasks_per_node', 1,
                              'Processes per node (with --sbatch).')
_RESOURCES = cli.define_slurm_resource_flags('node')
flags.adopt_module_key_flags(cli)  # --help lists them with this module's.
flags.mark_flags_as_required(['config', 'workdir'])


def _write_sbatch(argv: list[str]) -> None:
  """Checks the config here, then writes the job that trains it."""
  from lib import slurm_train, trainer  # pylint: disable=g-import-not-at-top
  trainer.Run(_CONFIG.value)  # Bad config: UserError before anything is written.
  slurm_only = {'sbatch', 'nodes', 'ntasks_per_node', 'workdir',
                *cli.SLURM_RESOURCE_FLAGS}
  def flag_name(arg: str) -> str:
    name = arg.lstrip('-').split('=')[0]
    return name[2:] if name.startswith('no') and name[2:] in slurm_only else name

  train_args = [a for a in argv[1:] if flag_name(a) not in slurm_only]
  text = slurm_train.script(
      workdir=_WORKDIR.value, train_args=train_args, python=sys.executable,
      repo_dir=os.getcwd(), nodes=_NODES.value, tasks_per_node=_TASKS.value,
      resources=_RESOURCES(),
      job_name=os.path.basename(os.path.abspath(_WORKDIR.value)))
  print(slurm_train.write(_WORKDIR.value, text))


def main(argv):
  from lib import errors  # pylint: disable=g-import-not-at-top
  if not _WORKDIR.value.strip():
    raise errors.UserError('--workdir is empty; name the run directory, e.g. '
                           '--workdir=runs/my_run')
  from lib import model_names  # pylint: disable=g-import-not-at-top
  model_names.check(_CONFIG.value.model.name)  # Before JAX's start-up.
  if _SBATCH.value:
    return _write_sbatch(sys.argv)
  from lib import accelerator, compile_cache, distributed, trainer, xla_cpu  # pylint: disable=g-import-not-at-top
  xla_cpu.prepare_for(_CONFIG.value.train.compute_dtype, [_CONFIG.value.model.name])
  compile_cache.enable()
  distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value,
                         _PROCESS_ID.value, _PROCESS_TIMEOUT.value)
  accelerator.check_and_announce()
  result = trainer.train_and_evaluate(_CONFIG.value, _WORKDIR.value,
                                      allow_config_change=_ALLOW_CHANGE.value)
  if result.get('signal') == 'SIGINT':  # Checkpointed; as a shell reports Ctrl-C.
    sys.exit(preemption.INTERRUPTED_EXIT_STATUS)


if __name__ == '__main__':
  cli.run(main)
