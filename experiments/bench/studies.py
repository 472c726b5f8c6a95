r"""Time to a result: whole studies, ours and plain PyTorch, side by side.

  ./launch.sh run experiments.bench.studies                 # both studies, 3 rounds
  ./launch.sh run experiments.bench.studies --studies=seeds --rounds=5 \
      --variants=warm,cold,warm_onednn --out=experiments/results/bench_studies

Each study is timed from process start to results, as a user runs it:
  seeds   the 5-seed study of one digits grid cell (configs/sweeps/ablation.py:digits,grid's
          settings, relu / max / dropout 0.5): `python -m experiments.seeds`
  train   one full default digits run (configs/cnn.py:digits):
          `python -m experiments.train`
against experiments/bench/torch_study.py, the same network, initializers,
optimizer, schedule, augmentation, batch order rules and evaluation in plain
PyTorch, run by --torch_python (its own environment, see requirements.txt).
Ours runs in these variants (--variants):
  warm          the defaults: oneDNN off, compilation cache already holding
                the programs (any run after the first on a machine)
  cold          the defaults with an empty cache (the first run)
  nocache       compilation cache off
  warm_onednn   oneDNN on (XLA_FLAGS), cache warm (its conv programs cannot be
                cached: experiments/bench/README.md)
PyTorch runs with its default threads (one per physical core) and with
--torch_threads more (default: also 1 thread, its fastest for these small
nets on 2 cores). Every round runs each variant and each PyTorch setting
once, in turn, so load from other processes falls on all alike; the table
gives medians over rounds and each median over the fastest PyTorch median,
with the test accuracies each side got.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from absl import flags

from experiments import cli
from experiments.bench import report, study_spec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TORCH_SCRIPT = study_spec.TORCH_SCRIPT

_STUDIES = flags.DEFINE_list('studies', ['seeds', 'train'], 'seeds and/or train.')
_ROUNDS = flags.DEFINE_integer('rounds', 3, 'Alternating rounds (medians over them).')
_SEEDS = flags.DEFINE_integer('seeds', 5, 'Seeds of the seeds study.')
_VARIANTS = flags.DEFINE_list('variants', ['warm', 'cold'],
                              'Our variants: warm, cold, nocache, warm_onednn.')
_TORCH_PYTHON = flags.DEFINE_string(
    'torch_python', os.path.join(ROOT, '.venv-torch', 'bin', 'python'),
    'Python of the PyTorch environment (experiments/bench/requirements.txt).')
_TORCH_THREADS = flags.DEFINE_list(
    'torch_threads', ['0', '1'], "PyTorch's intra-op threads, one row each "
    "(0: its default, one per physical core).")
_OUT = flags.DEFINE_string('out', '', 'Write OUT.md and OUT.json.')
_BASELINE = flags.DEFINE_list(
    'baseline', [], 'Other checkouts of this project (e.g. `git worktree add '
    '/tmp/base OLD_COMMIT`): their entry points are timed too, in every round '
    'and variant, with the same Python, for a before/after on the same machine.')

ONEDNN_OFF = '--xla_cpu_use_onednn=false --xla_cpu_experimental_onednn_custom_call=false'
ONEDNN_ON = '--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true'
VARIANTS = {  # name: (XLA_FLAGS or None for the default, cache state)
    'warm': (None, 'warm'), 'cold': (None, 'cold'), 'nocache': (None, 'off'),
    'warm_onednn': (ONEDNN_ON, 'warm'), 'cold_onednn': (ONEDNN_ON, 'cold'),
    'warm_nodnn': (ONEDNN_OFF, 'warm'),
}
GRID_CELL = study_spec.GRID_CELL


def _ours_command(study: str, out: str) -> list[str]:
  base = [sys.executable, '-m']
  if study == 'seeds':
    return base + ['experiments.seeds', '--config=configs/cnn.py:digits', *GRID_CELL,
                   f'--seeds={_SEEDS.value}', f'--out={out}']
  return base + ['experiments.train', '--config=configs/cnn.py:digits',
                 f'--workdir={out}']


def _ours_accuracies(study: str, out: str) -> list[float]:
  dirs = ([os.path.join(out, f'seed_{s}') for s in range(_SEEDS.value)]
          if study == 'seeds' else [out])
  accs = []
  for d in dirs:
    with open(os.path.join(d, 'results.json')) as f:
      r = json.load(f)
      accs.append(100 * r['test_accuracy'])
  return accs


def _timed(command: list[str], env: dict, cwd: str = ROOT) -> float:
  t0 = time.perf_counter()
  proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
  wall = time.perf_counter() - t0
  if proc.returncode:
    raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
  return wall


def _env(xla_flags: str | None, cache_dir: str | None) -> dict:
  env = dict(os.environ)
  env.pop('XLA_FLAGS', None)
  if xla_flags:
    env['XLA_FLAGS'] = xla_flags
  env['JAXVISION_COMPILATION_CACHE'] = cache_dir or 'off'
  return env


def _run_round(study: str, tmp: str, spec: str, rows: dict) -> None:
  roots = [('', ROOT)] + [(f'@{_commit_of(b)}', b) for b in _BASELINE.value]
  for name in _VARIANTS.value:
    for suffix, root in roots:
      xla_flags, cache = VARIANTS[name]
      cache_dir = os.path.join(tmp, f'cache_{name}{suffix}') if cache != 'off' else None
      if cache == 'cold' and cache_dir:
        shutil.rmtree(cache_dir, ignore_errors=True)
      elif cache == 'warm' and not os.path.isdir(cache_dir):  # Warm it first.
        warm_out = os.path.join(tmp, 'warming')
        _timed(_ours_command(study, warm_out), _env(xla_flags, cache_dir), root)
        shutil.rmtree(warm_out)
      out = os.path.join(tmp, f'{study}_{name}')
      shutil.rmtree(out, ignore_errors=True)
      wall = _timed(_ours_command(study, out), _env(xla_flags, cache_dir), root)
      rows.setdefault(name + suffix, []).append((wall, _ours_accuracies(study, out)))
  for threads in map(int, _TORCH_THREADS.value):
    out = os.path.join(tmp, f'{study}_torch.json')
    # -I: the script's folder off sys.path (its profile.py is not the stdlib's).
    wall = _timed([_TORCH_PYTHON.value, '-I', TORCH_SCRIPT, f'--spec={spec}',
                   f'--out={out}', f'--threads={threads}'], _env(None, None))
    with open(out) as f:
      accs = [100 * r['test_accuracy'] for r in json.load(f)['results']]
    rows.setdefault(_torch_name(threads), []).append((wall, accs))


def _commit_of(root: str) -> str:
  return subprocess.run(['git', '-C', root, 'rev-parse', '--short', 'HEAD'],
                        capture_output=True, text=True, check=True).stdout.strip()


def _torch_name(threads: int) -> str:
  return 'pytorch' if not threads else f'pytorch_{threads}_thread'


_machine = study_spec.machine


def main(argv):
  del argv
  from lib import errors  # pylint: disable=g-import-not-at-top
  unknown = set(_VARIANTS.value) - set(VARIANTS)
  if unknown:
    raise errors.UserError(f'--variants: unknown {sorted(unknown)}; use {sorted(VARIANTS)}')
  if set(_STUDIES.value) - {'seeds', 'train'}:
    raise errors.UserError('--studies takes seeds and/or train')
  if not os.path.exists(_TORCH_PYTHON.value):
    raise errors.UserError(
        f'--torch_python={_TORCH_PYTHON.value} does not exist; make the PyTorch '
        'environment: python3 -m venv .venv-torch && .venv-torch/bin/pip install '
        '-r experiments/bench/requirements.txt')
  if _ROUNDS.value < 1:
    raise errors.UserError('--rounds must be >= 1')
  for b in _BASELINE.value:
    if not os.path.exists(os.path.join(b, '.git')):
      raise errors.UserError(f'--baseline={b} is not a checkout of this project '
                             '(no .git)')
  torch_version = subprocess.run(
      [_TORCH_PYTHON.value, '-c', 'import torch; print(torch.__version__)'],
      capture_output=True, text=True, check=True).stdout.strip()
  import jax  # pylint: disable=g-import-not-at-top
  tmp = tempfile.mkdtemp(prefix='bench_studies_')
  load_before = os.getloadavg()
  results = {}
  for study in _STUDIES.value:
    spec = study_spec.write(study_spec.config(study), tmp, study,
                            list(range(_SEEDS.value)) if study == 'seeds' else [0])
    rows: dict = {}
    for r in range(_ROUNDS.value):
      _run_round(study, tmp, spec, rows)
      print(f'{study} round {r + 1}: ' + ', '.join(
          f'{k} {v[-1][0]:.2f} s' for k, v in rows.items()), flush=True)
    results[study] = rows
  shutil.rmtree(tmp, ignore_errors=True)

  title = {'seeds': f'{_SEEDS.value}-seed study of a digits grid cell (relu / max / 0.5)',
           'train': 'one default digits run (configs/cnn.py:digits)'}
  load_after = os.getloadavg()
  md = [f'Machine: {_machine()}; {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; '
        f'commit {_commit_of(ROOT)}; jax {jax.__version__}, '
        f'PyTorch {torch_version} (own process and environment); medians over '
        f'{_ROUNDS.value} alternating rounds, process start to results; load '
        f'average (1, 5, 15 min) {", ".join(f"{x:.2f}" for x in load_before)} '
        f'before, {", ".join(f"{x:.2f}" for x in load_after)} after.', '',
        '| study | side | wall s (median) | all rounds | / fastest PyTorch | '
        'speed-up: PyTorch (default threads, 1 thread) / ours, median of '
        'per-round ratios | test acc % (round 1) |',
        '|---|---|---|---|---|---|---|']
  summary = {}
  for study, rows in results.items():
    # Against PyTorch's fastest row: the comparison we must win.
    torch_median = min(statistics.median(w for w, _ in runs)
                       for name, runs in rows.items() if name.startswith('pytorch'))
    for name, runs in rows.items():
      median = statistics.median(w for w, _ in runs)
      side = ('PyTorch' + (f', {name.split("_")[1]} thread' if name != 'pytorch' else
                           ', default threads')
              if name.startswith('pytorch') else 'ours, ' + name.replace('@', ', at '))
      ratio = f'{median / torch_median:.2f}x'
      # Each round's PyTorch time over ours in the same round: load that
      # comes and goes between rounds cancels out.
      speedups = '' if name.startswith('pytorch') else ', '.join(
          f"{label} {statistics.median(t / w for (t, _), (w, _) in zip(rows[other], runs)):.2f}x"
          for other, label in (('pytorch', 'default'), ('pytorch_1_thread', '1 thread'))
          if other in rows)
      accs = ', '.join(f'{a:.2f}' for a in runs[0][1])
      md.append(f"| {title[study]} | {side} | {median:.2f} | "
                f"{' '.join(f'{w:.2f}' for w, _ in runs)} | {ratio} | {speedups} | {accs} |")
      summary.setdefault(study, {})[name] = {'median_s': median, 'walls': [w for w, _ in runs],
                                             'accuracies': [a for _, a in runs]}
  print('\n'.join(md))
  if _OUT.value:
    report.write_files(_OUT.value, '\n'.join(md) + '\n', {
        'machine': _machine(), 'torch': torch_version, 'jax': jax.__version__,
        'commit': _commit_of(ROOT),
        'baselines': [_commit_of(b) for b in _BASELINE.value],
        'load_before': load_before, 'load_after': load_after,
        'studies': summary})


if __name__ == '__main__':
  cli.run(main)
