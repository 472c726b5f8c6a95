r"""Trains one config into a run directory; starting it again resumes it.

  python -m experiments.train --config=configs/digits_cnn.py --workdir=runs/cnn
  python -m experiments.train --config=configs/digits_cnn.py \
      --config.model.activation=tanh --config.seed=3 --workdir=runs/cnn_tanh_s3
"""
from absl import flags
from ml_collections import config_flags

from experiments import cli

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file, optionally with `:arg`.', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  del argv
  from lib import trainer  # pylint: disable=g-import-not-at-top
  trainer.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == '__main__':
  cli.run(main)
