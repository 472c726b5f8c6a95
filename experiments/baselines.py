r"""scikit-learn's classical learners on a config's own train/test split.

  python -m experiments.baselines --config=configs/cnn.py:mnist_5k \
      --out=experiments/results/baselines_mnist_5k.json

Reads the split through the project's pipeline (lib/report/baselines.py), so
the figures sit beside the networks' on the same images; prints a Markdown
table (test accuracy, mean ± std over seeds where the learner is random) and
writes it with the per-seed figures to --out. Study reports add the same
rows by themselves (`experiments.report`).
"""
import json
import os

from absl import flags
from ml_collections import config_flags

from experiments import cli

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file.',
                                          lock_config=True)
_OUT = flags.DEFINE_string('out', '', 'JSON file for the results (optional).')
flags.mark_flags_as_required(['config'])


def main(argv):
  del argv
  from lib.report import baselines  # pylint: disable=g-import-not-at-top
  config = _CONFIG.value.copy_and_resolve_references()
  rows = baselines.evaluate(config.data.to_dict(), config.train.batch_size)
  lines = ['| learner | test accuracy % | seeds | fit s |', '|---|---|---|---|']
  for r in rows:
    std = f" ± {r['test_acc_std']:.2f}" if r['test_acc_n'] > 1 else ''
    lines.append(f"| {r['config'].removeprefix('baseline: ')} | "
                 f"{r['test_acc_mean']:.2f}{std} | {r['test_acc_n']} | "
                 f"{r['wall_s_mean']:.1f} |")
  print('\n'.join(lines))
  if _OUT.value:
    os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
    with open(_OUT.value, 'w') as f:
      json.dump({'data': config.data.to_dict(), 'rows': rows}, f, indent=2)


if __name__ == '__main__':
  cli.run(main)
