r"""What one compiled program per tuned arm saves: an arm's learning rates x
seeds trained by one program (the learning rate a value in the optimizer
state, lib/optim.py) against one program per rate (what a rate compiled in
as a constant costs: a fresh program, compiled, for every rate).

  python -m experiments.bench.tuned_programs --out=experiments/results/tuned_programs

One digits-grid arm (relu / max / dropout 0.5, configs/sweeps/common.py's
settings, 10% held out), 5 rates x 5 seeds, one process, the persistent
compilation cache off (so each fresh program compiles), the two ways
alternating for --rounds rounds. Every run is the same in both ways
(bitwise: tests/test_tuned_study.py); only the compiling differs.
"""
import json
import os
import tempfile
import time

import numpy as np
from absl import flags

from experiments import cli

_ROUNDS = flags.DEFINE_integer('rounds', 2, 'Alternating rounds of both ways.')
_SEEDS = flags.DEFINE_integer('seeds', 5, 'Seeds per rate.')
_OUT = flags.DEFINE_string('out', '', 'Write OUT.md and OUT.json.')


def _configs(seeds: int):
  from configs import cnn  # pylint: disable=g-import-not-at-top
  from configs.sweeps import common  # pylint: disable=g-import-not-at-top
  _, fixed = common.BASES['digits']
  configs = []
  for rate in common.LEARNING_RATES[common.TUNED_RATES['digits']]:
    for seed in range(seeds):
      config = cnn.get_config('digits')
      for field, value in {**fixed, **common.VALIDATION}.items():
        section, key = field.split('.')
        config[section][key] = value
      config.model.activation, config.model.pooling = 'relu', 'max'
      config.model.dropout = 0.5
      config.optimizer.learning_rate = rate
      config.seed = seed
      configs.append(config)
  return configs


def _train(configs, one_program: bool) -> tuple[float, list[float]]:
  from lib import multi_seed  # pylint: disable=g-import-not-at-top
  multi_seed._last.clear()  # pylint: disable=protected-access
  root = tempfile.mkdtemp(prefix='tuned_programs_')
  t0 = time.perf_counter()
  results = []
  for i, config in enumerate(configs):
    if not one_program and i % _SEEDS.value == 0:
      multi_seed._last.clear()  # pylint: disable=protected-access  # A new rate: a new program.
    results += multi_seed.train_and_evaluate(
        [config], [os.path.join(root, f'run{i}')], root, 1, evaluate_train_split=True)
  return time.perf_counter() - t0, [r['test_accuracy'] for r in results]


def main(argv):
  del argv
  os.environ['JAXVISION_COMPILATION_CACHE'] = 'off'
  from lib import progress  # pylint: disable=g-import-not-at-top
  configs = _configs(_SEEDS.value)
  rounds = []
  for k in range(_ROUNDS.value):
    for one_program in ((True, False) if k % 2 == 0 else (False, True)):
      wall, accs = _train(configs, one_program)
      rounds.append({'round': k, 'one_program': one_program, 'wall_s': wall,
                     'mean_test_accuracy': float(np.mean(accs))})
      progress.say(f"round {k}: {'one program' if one_program else 'a program per rate'}: "
                   f'{wall:.1f} s for {len(configs)} runs')
  med = {w: float(np.median([r['wall_s'] for r in rounds if r['one_program'] == w]))
         for w in (True, False)}
  out = {'runs': len(configs), 'rounds': rounds, 'median_wall_s_one_program': med[True],
         'median_wall_s_program_per_rate': med[False],
         'speedup': med[False] / med[True], 'load_average': os.getloadavg()}
  md = ['| way | median wall s | runs |', '|---|---|---|',
        f'| one program for the arm | {med[True]:.1f} | {len(configs)} |',
        f'| a program per rate | {med[False]:.1f} | {len(configs)} |', '',
        f'Speed-up {out["speedup"]:.2f}x; load average {out["load_average"][0]:.1f}.']
  print('\n'.join(md))
  if _OUT.value:
    os.makedirs(os.path.dirname(_OUT.value) or '.', exist_ok=True)
    with open(_OUT.value + '.json', 'w') as f:
      json.dump(out, f, indent=2)
    with open(_OUT.value + '.md', 'w') as f:
      f.write('\n'.join(md) + '\n')


if __name__ == '__main__':
  cli.run(main)
