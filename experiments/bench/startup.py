r"""Start-up budget: from process start to the first step, phase by phase.

  ./launch.sh run experiments.bench.startup                       # 3 rounds, all entries
  ./launch.sh run experiments.bench.startup --entries=train --rounds=5 \
      --out=experiments/results/startup

Runs each entry point as users run it, in its own process, under
experiments/bench/startup_probe.py (which changes nothing; it records when
each phase ends), with a compilation cache warmed by one unmeasured run
(--cache=cold: emptied before every run):
  train   python -m experiments.train --config=configs/digits_cnn.py (the default run)
  seeds   python -m experiments.seeds: the 5-seed study of the digits grid cell
          relu / max / dropout 0.5 (experiments.bench.studies' seeds study)
  sweep   python -m experiments.sweep --sweep=configs/sweeps/digits_grid.py
          --task_index=14: the same cell as one SLURM array task runs it
Rounds alternate the entries, so load from other processes falls on all of
them alike; the table gives medians, with the load average before and after.

Phases (seconds, each from the end of the previous one):
  start to main()     interpreter, the entry module's imports, flags, config
  main() to Run()     the imports main() defers, backend and cache set-up
  data                opening the dataset (lib/data/pipeline.py Data)
  model check         the rest of trainer.Run: the model traced shape-only
  program build       trainer.Program: the split placed on the device
  init state          the init program: trace, lower, compile or load, run
  records set-up      checkpointer, provenance, config.json, metrics writers
  first step          its programs (step, epoch order) traced, lowered,
                      compiled or loaded, and run (blocked on, to time it)
Then: `imports` (all import time up to the first step, inside the phases
above), `trace/lower/load` (jax's own compile events up to the first step;
load is XLA's compile or, warm, the read of the cached executable), the
first records written and the first checkpoint (since process start), and
the whole process.
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
from experiments.bench import study_spec

ROOT = study_spec.ROOT
ENTRIES = ('train', 'seeds', 'sweep')
GRID_CELL_TASK = 14  # configs/sweeps/digits_grid.py: relu, dropout 0.5, max.

_ENTRIES = flags.DEFINE_list('entries', list(ENTRIES), 'train, seeds, sweep.')
_ROUNDS = flags.DEFINE_integer('rounds', 3, 'Alternating rounds (medians over them).')
_CACHE = flags.DEFINE_enum('cache', 'warm', ['warm', 'cold'],
                           'The compilation cache: warmed by one unmeasured '
                           'run, or emptied before every run.')
_OUT = flags.DEFINE_string('out', '', 'Write OUT.md and OUT.json.')

PHASES = [  # (name, event that ends it); each starts where the previous ended.
    ('start to main()', 'main:start'),
    ('main() to Run()', 'run_setup:start'),
    ('data', 'data:end'),
    ('model check', 'run_setup:end'),
    ('program build', 'program_build:end'),
    ('init state', 'state_init:end'),
    ('records set-up', 'metrics_writer_init:end'),
    ('first step', 'first_step:end'),
]


def command(entry: str, out: str) -> list[str]:
  """The entry point's arguments, as a user types them (after python -m)."""
  if entry == 'train':
    return ['experiments.train', '--config=configs/digits_cnn.py', f'--workdir={out}']
  if entry == 'seeds':
    return ['experiments.seeds', '--config=configs/digits_cnn.py', *study_spec.GRID_CELL,
            '--seeds=5', f'--out={out}']
  return ['experiments.sweep', '--sweep=configs/sweeps/digits_grid.py',
          f'--study_dir={out}', f'--task_index={GRID_CELL_TASK}']


def probe(entry: str, out: str, cache_dir: str, record_path: str) -> dict:
  """Runs the entry under the probe; its record, with the wall time."""
  env = dict(os.environ, JAXVISION_COMPILATION_CACHE=cache_dir)
  t0 = time.time()
  env['STARTUP_PROBE_T0'] = repr(t0)
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.bench.startup_probe', record_path,
       *command(entry, out)], cwd=ROOT, env=env, capture_output=True, text=True)
  wall = time.time() - t0
  if proc.returncode:
    raise RuntimeError(f'{entry} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}')
  with open(record_path) as f:
    record = json.load(f)
  record['wall'] = wall
  return record


def phases(record: dict) -> dict[str, float]:
  """Seconds per phase, and the summary columns, from one probe record."""
  events, out, last = record['events'], {}, 0.0
  for name, end in PHASES:
    out[name] = events[end] - last
    last = events[end]
  compiled = record.get('compile_before_first_step', {}).values()
  out['to first step'] = events['first_step:end']
  out['imports'] = record['import_seconds_to_first_step']
  for part in ('trace', 'lower', 'compile_or_load'):
    out[part] = sum(p.get(part, 0.0) for p in compiled)
  out['first records'] = events.get('metrics_write:end', float('nan'))
  out['first checkpoint'] = events.get('checkpoint_save:end', float('nan'))
  out['whole process'] = record['wall']
  return out


def _commit() -> str:
  try:
    return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'


def table(runs: dict[str, list[dict]]) -> list[str]:
  """Markdown rows: one per phase, one column per entry (medians)."""
  entries = list(runs)
  per = {e: [phases(r) for r in runs[e]] for e in entries}
  names = list(per[entries[0]][0])
  md = ['| phase (s, median) | ' + ' | '.join(entries) + ' |',
        '|---|' + '---|' * len(entries)]
  for name in names:
    label = f'**{name}**' if name == 'to first step' else name
    md.append(f'| {label} | ' + ' | '.join(
        f'{statistics.median(p[name] for p in per[e]):.2f}' for e in entries) + ' |')
  md.append('| not needed, loaded | ' + ' | '.join(
      ', '.join(sorted({m for r in runs[e] for m in r['not_needed_loaded']})) or 'none'
      for e in entries) + ' |')
  return md


def main(argv):
  del argv
  from lib import errors  # pylint: disable=g-import-not-at-top
  if set(_ENTRIES.value) - set(ENTRIES) or not _ENTRIES.value:
    raise errors.UserError(f'--entries takes some of {", ".join(ENTRIES)}')
  if _ROUNDS.value < 1:
    raise errors.UserError('--rounds must be >= 1')
  tmp = tempfile.mkdtemp(prefix='bench_startup_')
  cache_dir = os.path.join(tmp, 'xla_cache')
  load_before = os.getloadavg()
  runs: dict[str, list[dict]] = {e: [] for e in _ENTRIES.value}
  try:
    if _CACHE.value == 'warm':
      for entry in _ENTRIES.value:  # One unmeasured run each fills the cache.
        probe(entry, os.path.join(tmp, 'warming'), cache_dir, os.path.join(tmp, 'r.json'))
        shutil.rmtree(os.path.join(tmp, 'warming'))
    for r in range(_ROUNDS.value):
      for entry in _ENTRIES.value:
        if _CACHE.value == 'cold':
          shutil.rmtree(cache_dir, ignore_errors=True)
        out = os.path.join(tmp, entry)
        runs[entry].append(probe(entry, out, cache_dir, os.path.join(tmp, 'r.json')))
        shutil.rmtree(out)
      print(f'round {r + 1}: ' + ', '.join(
          f"{e} first step {v[-1]['events']['first_step:end']:.2f} s, "
          f"process {v[-1]['wall']:.2f} s" for e, v in runs.items()), flush=True)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  load_after = os.getloadavg()
  md = [f'Machine: {study_spec.machine()}; {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; '
        f'commit {_commit()}; compilation cache {_CACHE.value}; medians over '
        f'{_ROUNDS.value} alternating rounds; load average (1, 5, 15 min) '
        f'{", ".join(f"{x:.2f}" for x in load_before)} before, '
        f'{", ".join(f"{x:.2f}" for x in load_after)} after.', '', *table(runs)]
  print('\n'.join(md))
  if _OUT.value:
    os.makedirs(os.path.dirname(_OUT.value) or '.', exist_ok=True)
    with open(_OUT.value + '.md', 'w') as f:
      f.write('\n'.join(md) + '\n')
    with open(_OUT.value + '.json', 'w') as f:
      json.dump({'machine': study_spec.machine(), 'commit': _commit(),
                 'cache': _CACHE.value, 'load_before': load_before,
                 'load_after': load_after, 'runs': runs}, f, indent=2)


if __name__ == '__main__':
  cli.run(main)
