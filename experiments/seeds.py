r"""Trains one config over several seeds and reports mean and std of accuracy.

  python -m experiments.seeds --config=configs/digits_cnn.py --seeds=5 \
      --out=runs/seeds/digits_cnn

Each seed gets its own run directory under --out (resumable as usual); the
summary goes to OUT/summary.json and stdout.
"""
import json
import os
import numpy as np
from absl import flags
from ml_collections import config_flags

from experiments import cli

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file.',
                                          lock_config=True)
_SEEDS = flags.DEFINE_integer('seeds', 5, 'Number of seeds: 0..N-1.')
_OUT = flags.DEFINE_string('out', None, 'Directory for the runs.')
flags.mark_flags_as_required(['config', 'out'])


def main(argv):
  del argv
  from lib import trainer, xla_cpu  # pylint: disable=g-import-not-at-top
  xla_cpu.prepare_for(_CONFIG.value.train.compute_dtype)
  accuracies = []
  for seed in range(_SEEDS.value):
    config = _CONFIG.value.copy_and_resolve_references()
    config.seed = seed
    result = trainer.train_and_evaluate(
        config, os.path.join(_OUT.value, f'seed_{seed}'))
    accuracies.append(result['eval_accuracy'])
  acc = np.array(accuracies) * 100
  summary = {'config': _CONFIG.value.to_dict(), 'seeds': _SEEDS.value,
             'accuracies': acc.tolist(), 'mean': acc.mean(),
             'std': acc.std(ddof=1) if len(acc) > 1 else 0.0}
  with open(os.path.join(_OUT.value, 'summary.json'), 'w') as f:
    json.dump(summary, f, indent=2)
  print(f"accuracy over {len(acc)} seeds: {summary['mean']:.2f} "
        f"± {summary['std']:.2f}% (per seed: "
        f"{', '.join(f'{a:.2f}' for a in acc)})")


if __name__ == '__main__':
  cli.run(main)
