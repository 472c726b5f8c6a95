r"""Seeds side by side on CPU (lib/multi_seed.py `side_by_side`): the same
seeds trained 1, 2, 3, ... at a time (--widths), in one process, per model.

  ./launch.sh run experiments.bench.side_by_side                 # all cases, 2 rounds
  ./launch.sh run experiments.bench.side_by_side --cases=digits --seeds=5 \
      --widths=2,3,5 --rounds=3 --out=experiments/results/side_by_side  # also .md, .json

Each case trains the same seeds of one config through
multi_seed.train_and_evaluate, as experiments.seeds does, once with each
width in alternating order per round (fresh directories; the program is
compiled before the first timing and shared, so only training is timed).
It prints the wall seconds per width, each width's speed-up over the first
width (best of rounds) and checks that the seeds' test accuracies are the
same every way.
  digits    the digits grid cell relu / max / 0.5 (158 kFLOPs per example), 4 seeds
  lenet5    LeNet-5 on mnist_5k, 15 epochs, as the mnist5k studies (847 kFLOPs), 4 seeds
  resnet20  ResNet-20 on mnist_5k, 1 epoch (56 MFLOPs), 2 seeds
(--seeds overrides the count: 5, the studies' count, leaves a seed alone at
the end at width 2.)
"""
import json
import os
import tempfile
import time

from absl import flags

from experiments import cli
from experiments.bench import study_spec

_CASES = flags.DEFINE_list('cases', ['digits', 'lenet5', 'resnet20'], 'Which models.')
_ROUNDS = flags.DEFINE_integer('rounds', 2, 'Alternating rounds.')
_WIDTHS = flags.DEFINE_list('widths', ['1', '2'], 'Seeds at a time, one timing each; '
                            'speed-ups are over the first.')
_SEEDS = flags.DEFINE_integer('seeds', 0, "Seeds per case (0: the case's own count).")
_OUT = flags.DEFINE_string('out', '', 'Write OUT.md and OUT.json.')
flags.register_validator('widths', lambda ws: all(w.isdigit() and int(w) > 0 for w in ws),
                         '--widths takes positive integers, e.g. --widths=2,3')
flags.register_validator('seeds', lambda n: n >= 0, '--seeds takes 0 (each case\'s own) or more')


def _config(case: str):
  if case == 'digits':
    c = study_spec.config('seeds')
    c.model.activation, c.model.pooling, c.model.dropout = 'relu', 'max', 0.5
    c.train.log_every_steps = 11
    return c, 4
  if case == 'lenet5':
    from configs import lenet5  # pylint: disable=g-import-not-at-top
    c = lenet5.get_config('mnist_5k')
    c.train.num_epochs, c.train.log_every_steps = 15.0, 31
    return c, 4
  from configs import resnet  # pylint: disable=g-import-not-at-top
  c = resnet.get_config('digits')
  c.data.name, c.data.random_shift = 'mnist_5k', 0
  c.train.num_epochs, c.train.log_every_steps = 1.0, 14
  return c, 2


def _train(multi_seed, config, seeds: int, width: int, root: str) -> tuple[float, list]:
  configs = []
  for s in range(seeds):
    c = config.copy_and_resolve_references()
    c.seed = s
    configs.append(c)
  multi_seed.side_by_side = lambda *_: width
  start = time.perf_counter()
  results = multi_seed.train_and_evaluate(
      configs, [os.path.join(root, f'seed_{s}') for s in range(seeds)], root,
      seeds_per_program=1, evaluate_train_split=False)
  return time.perf_counter() - start, [r['test_accuracy'] for r in results]


def main(argv):
  del argv
  from lib import compile_cache, multi_seed, xla_cpu  # pylint: disable=g-import-not-at-top
  xla_cpu.prepare_for('float32', None)
  compile_cache.enable()
  load_before = os.getloadavg()
  widths = [int(w) for w in _WIDTHS.value]
  rows = []
  for case in _CASES.value:
    config, seeds = _config(case)
    seeds = _SEEDS.value or seeds
    with tempfile.TemporaryDirectory() as tmp:
      _train(multi_seed, config, 1, 1, os.path.join(tmp, 'warm'))  # Compiles.
      times, accuracies = {w: [] for w in widths}, {}
      for r in range(_ROUNDS.value):
        for width in (widths if r % 2 == 0 else widths[::-1]):
          seconds, acc = _train(multi_seed, config, seeds, width,
                                os.path.join(tmp, f'{r}_{width}'))
          times[width].append(seconds)
          accuracies.setdefault(width, acc)
          print(f'{case} round {r + 1} width {width}: {seconds:.2f} s', flush=True)
    best = {w: min(t) for w, t in times.items()}
    rows.append({'case': case, 'seeds': seeds, 'seconds_per_width': times,
                 'speedup_best': {w: best[widths[0]] / best[w] for w in widths},
                 'same_accuracies': all(a == accuracies[widths[0]]
                                        for a in accuracies.values())})
  head = (f'Machine: {study_spec.machine()}; {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; '
          f'load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; '
          f'{_ROUNDS.value} alternating rounds; training only (compiled before)')
  lines = [head, '', '| model | seeds | ' + ' | '.join(f'{w} at a time, s' for w in widths)
           + f' | speed-up over {widths[0]} at a time (best of rounds) | same test accuracies |',
           '|---|---|' + '---|' * len(widths) + '---|---|']
  for row in rows:
    lines.append(f"| {row['case']} | {row['seeds']} | "
                 + ' | '.join(' '.join(f'{t:.2f}' for t in row['seconds_per_width'][w])
                              for w in widths)
                 + ' | ' + ', '.join(f"{w}: {row['speedup_best'][w]:.2f}x" for w in widths[1:])
                 + f" | {'yes' if row['same_accuracies'] else 'NO'} |")
  text = '\n'.join(lines)
  print(text)
  if _OUT.value:
    with open(_OUT.value + '.md', 'w') as f:
      f.write(text + '\n')
    with open(_OUT.value + '.json', 'w') as f:
      json.dump({'header': head, 'rows': rows}, f, indent=2)


if __name__ == '__main__':
  cli.run(main)
