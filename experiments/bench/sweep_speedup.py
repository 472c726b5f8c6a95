r"""How much faster a seed group runs as one task than as one process per run.

  python -m experiments.bench.sweep_speedup                  # 5 seeds, relu/max/0.5
  python -m experiments.bench.sweep_speedup --seeds=5 --activation=tanh \
      --out=experiments/results/sweep_speedup              # also .md and .json

Trains the same S seeds of one digits-grid config (configs/sweeps/ablation.py:digits,grid)
four ways, each as fresh subprocesses so start-up counts:
  process per run      S x `python -m experiments.train` (a naive array job)
  sweep, no grouping   one `experiments.sweep --novmap_seeds`: one process,
                       one task per run (compiled every run until issue 18;
                       now consecutive runs of a config share the program)
  sweep, 1 seed/program  one `experiments.sweep --seeds_per_program=1`: the
                       seed group's program is compiled once, seeds in turn
  sweep, vmapped       one `experiments.sweep --seeds_per_program=0`: all
                       seeds in one vmapped program (lib/multi_seed.py)
and prints wall and CPU seconds, the speed-up over one process per run, and
the mean test accuracy (equal up to float noise: the same seeds train).
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import flags

from experiments import cli

_SEEDS = flags.DEFINE_integer('seeds', 5, 'Seeds of the config.')
_ACTIVATION = flags.DEFINE_string('activation', 'relu', 'model.activation.')
_POOLING = flags.DEFINE_string('pooling', 'max', 'model.pooling.')
_DROPOUT = flags.DEFINE_float('dropout', 0.5, 'model.dropout.')
_OUT = flags.DEFINE_string('out', '', 'Write OUT.md and OUT.json.')

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONFIG_FILE = '''
from configs import cnn


def get_config():
  config = cnn.get_config('digits')
  for field, value in {fixed!r}.items():
    section, key = field.split('.')
    config[section][key] = value
  return config
'''

SWEEP_FILE = '''
from lib import sweeps


def get_sweep():
  return sweeps.Sweep(config={config!r}, fixed={{}}, axes=sweeps.seeds({seeds}))
'''


def _timed(commands: list[list[str]]) -> tuple[float, float]:
  """Wall and CPU (user + system, children) seconds of running commands in turn."""
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  t0 = time.time()
  for c in commands:
    proc = subprocess.run(c, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
      raise RuntimeError(f"{' '.join(c)} failed:\n{proc.stderr[-3000:]}")
  wall = time.time() - t0
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _accuracy(dirs: list[str]) -> float:
  accs = []
  for d in dirs:
    with open(os.path.join(d, 'results.json')) as f:
      r = json.load(f)
      accs.append(r['test_accuracy'])
  return 100 * float(np.mean(accs))


def main(argv):
  del argv
  from configs.sweeps import common as sweep_common  # pylint: disable=g-import-not-at-top
  fixed = dict(sweep_common.BASES["digits"][1], **{'model.activation': _ACTIVATION.value,
                                       'model.pooling': _POOLING.value,
                                       'model.dropout': _DROPOUT.value})
  seeds = _SEEDS.value
  tmp = tempfile.mkdtemp(prefix='sweep_speedup_')
  config = os.path.join(tmp, 'config.py')
  with open(config, 'w') as f:
    f.write(CONFIG_FILE.format(fixed=fixed))
  sweep = os.path.join(tmp, 'sweep.py')
  with open(sweep, 'w') as f:
    f.write(SWEEP_FILE.format(config=config, seeds=seeds))
  py = sys.executable
  seed_dirs = lambda root: [os.path.join(root, 'base', f'seed={s}') for s in range(seeds)]

  modes = {}
  per_run = [os.path.join(tmp, 'per_run', str(s)) for s in range(seeds)]
  modes['process per run'] = (
      [[py, '-m', 'experiments.train', f'--config={config}', f'--config.seed={s}',
        f'--workdir={per_run[s]}'] for s in range(seeds)], per_run)
  for name, flag in (('sweep, no grouping', '--novmap_seeds'),
                     ('sweep, 1 seed/program', '--seeds_per_program=1'),
                     ('sweep, vmapped', '--seeds_per_program=0')):
    study = os.path.join(tmp, name.replace(' ', '_').replace(',', '').replace('/', '_'))
    modes[name] = ([[py, '-m', 'experiments.sweep', f'--sweep={sweep}',
                     f'--study_dir={study}', flag]], seed_dirs(study))

  rows = []
  for name, (commands, dirs) in modes.items():
    load = os.getloadavg()[0]
    wall, cpu = _timed(commands)
    rows.append({'mode': name, 'wall_s': wall, 'cpu_s': cpu,
                 'load_before': load, 'test_acc': _accuracy(dirs)})
    print(f'{name}: {wall:.1f} s wall, {cpu:.1f} s CPU', flush=True)
  base = rows[0]['wall_s']
  title = (f"{seeds} seeds of activation={_ACTIVATION.value}, pooling="
           f"{_POOLING.value}, dropout={_DROPOUT.value} (digits grid model), "
           f"{os.cpu_count()} CPUs")
  md = [f'### Sweep speed-up: {title}', '',
        '| mode | wall s | CPU s | speed-up (wall) | mean test acc % | load avg before |',
        '|---|---|---|---|---|---|']
  md += [f"| {r['mode']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
         f"{base / r['wall_s']:.2f}x | {r['test_acc']:.2f} | {r['load_before']:.1f} |"
         for r in rows]
  print('\n' + '\n'.join(md))
  if _OUT.value:
    os.makedirs(os.path.dirname(_OUT.value) or '.', exist_ok=True)
    with open(_OUT.value + '.md', 'w') as f:
      f.write('\n'.join(md) + '\n')
    with open(_OUT.value + '.json', 'w') as f:
      json.dump({'title': title, 'rows': rows}, f, indent=2)


if __name__ == '__main__':
  cli.run(main)
