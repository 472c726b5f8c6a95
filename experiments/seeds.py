r"""Trains one config over several seeds and reports mean and std of accuracy.

  python -m experiments.seeds --config=configs/cnn.py:digits --seeds=5 \
      --out=runs/seeds/digits_cnn

Each seed gets its own run directory OUT/seed_K (config.json, metrics.jsonl,
results.json; resumable as usual); the summary goes to OUT/summary.json and
stdout. The seeds go through lib/multi_seed.py, as a study's do: the program
is compiled once for all of them. On CPU (one seed per program) each seed's
run is the ordinary one, bitwise, with its checkpoints in OUT/seed_K; with
stacked seeds (accelerators, or --seeds_per_program=0) the checkpoints are
in OUT/checkpoints/. Either way `experiments.visualize --workdir=OUT/seed_K`
works.
"""
# Before anything heavy is imported: a SIGTERM or Ctrl-C during start-up
# stops the run at its first step with a checkpoint (lib/preemption.py).
from lib import preemption  # pylint: disable=g-bad-import-order
preemption.install(interrupt=True)

import os
import sys

import numpy as np
from absl import flags
from ml_collections import config_flags

from experiments import cli
from lib import atomic

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file.',
                                          lock_config=True)
_SEEDS = flags.DEFINE_integer('seeds', 5, 'Number of seeds: 0..N-1.')
_OUT = flags.DEFINE_string('out', None, 'Directory for the runs.')
_PER_PROGRAM = flags.DEFINE_integer(
    'seeds_per_program', -1, 'Seeds trained at once by one vmapped program '
    '(0: all; 1: one after another, the ordinary run; -1: all on '
    'accelerators, 1 on CPU, where vmapped convolutions are slower).')
flags.mark_flags_as_required(['config', 'out'])


def main(argv):
  del argv
  from lib import accelerator, compile_cache, errors, multi_seed, progress, xla_cpu  # pylint: disable=g-import-not-at-top
  if _SEEDS.value < 1:
    raise errors.UserError(f'--seeds={_SEEDS.value}: train at least 1 seed')
  if _PER_PROGRAM.value < -1:
    raise errors.UserError('--seeds_per_program must be >= 0, or -1 for the '
                           'default')
  xla_cpu.prepare_for(_CONFIG.value.train.compute_dtype, [_CONFIG.value.model.name])
  compile_cache.enable()
  accelerator.check_and_announce()
  configs = []
  for seed in range(_SEEDS.value):
    config = _CONFIG.value.copy_and_resolve_references()
    config.seed = seed
    configs.append(config)
  per_program = _PER_PROGRAM.value
  if per_program < 0:  # Stacked seeds need the on-device pipeline.
    per_program = (multi_seed.default_seeds_per_program()
                   if configs[0].data.pipeline == 'device' else 1)
  workdirs = [os.path.join(_OUT.value, f'seed_{c.seed}') for c in configs]
  try:
    results = multi_seed.train_and_evaluate(configs, workdirs, _OUT.value,
                                            per_program,
                                            evaluate_train_split=False)
  except multi_seed.Preempted as e:
    what = 'Ctrl-C' if e.signal == 'SIGINT' else e.signal
    progress.say(f'{what}: saved a checkpoint at step {e.step} and stopped; '
                 'run the same command again to go on')
    if e.signal == 'SIGINT':  # As a shell reports Ctrl-C.
      sys.exit(preemption.INTERRUPTED_EXIT_STATUS)
    return
  diverged = {c.seed: r for c, r in zip(configs, results)
              if isinstance(r, Exception)}
  for seed, e in diverged.items():
    print(f'error: seed {seed}: {e}', file=sys.stderr)
  acc = np.array([r['test_accuracy'] for r in results
                  if not isinstance(r, Exception)]) * 100
  summary = {'config': _CONFIG.value.to_dict(), 'seeds': _SEEDS.value,
             'accuracies': acc.tolist(),
             'diverged_seeds': sorted(diverged),
             'mean': acc.mean() if len(acc) else None,
             'std': acc.std(ddof=1) if len(acc) > 1 else 0.0}
  atomic.write_json(os.path.join(_OUT.value, 'summary.json'), summary)
  if len(acc):
    named = configs[0].data.test_split
    named = '' if named == 'test' else f" (split '{named}')"
    print(f"test accuracy{named} over {len(acc)} seeds: {summary['mean']:.2f} "
          f"± {summary['std']:.2f}% (per seed: "
          f"{', '.join(f'{a:.2f}' for a in acc)})")
  if diverged:
    sys.exit(3)


if __name__ == '__main__':
  cli.run(main)
