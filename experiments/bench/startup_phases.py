"""The pure parts of experiments/bench/startup.py: its entries' commands, the
probe run, the phases of a record and the table. No flags here, so tests can
import it beside other bench modules that define theirs."""
import json
import os
import statistics
import subprocess
import sys
import time

from experiments.bench import study_spec

ROOT = study_spec.ROOT
ENTRIES = ('train', 'seeds', 'sweep')
GRID_CELL_TASK = 14  # configs/sweeps/ablation.py:digits,grid: relu, dropout 0.5, max.

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
    return ['experiments.train', '--config=configs/cnn.py:digits', f'--workdir={out}']
  if entry == 'seeds':
    return ['experiments.seeds', '--config=configs/cnn.py:digits', *study_spec.GRID_CELL,
            '--seeds=5', f'--out={out}']
  return ['experiments.sweep', '--sweep=configs/sweeps/ablation.py:digits,grid',
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
