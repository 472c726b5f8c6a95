r"""Trains one config into a run directory; starting it again resumes it.

  python -m experiments.train --config=configs/digits_cnn.py --workdir=runs/cnn
  python -m experiments.train --config=configs/digits_cnn.py \
      --config.model.activation=tanh --config.seed=3 --workdir=runs/cnn_tanh_s3

Several processes (multi-host): under `srun --ntasks=N` nothing more is
needed; elsewhere start each process with --coordinator_address=HOST:PORT
--num_processes=N --process_id=I.
"""
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
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  del argv
  from lib import distributed, trainer, xla_cpu  # pylint: disable=g-import-not-at-top
  xla_cpu.prepare_for(_CONFIG.value.train.compute_dtype)
  distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value,
                         _PROCESS_ID.value)
  trainer.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == '__main__':
  cli.run(main)
