r"""Start-up budget: from process start to the first step, phase by phase.

  ./launch.sh run experiments.bench.startup                       # 3 rounds, all entries
  ./launch.sh run experiments.bench.startup --entries=train --rounds=5 \
      --out=experiments/results/startup

Runs each entry point as users run it, in its own process, under
experiments/bench/startup_probe.py (which changes nothing; it records when
each phase ends), with a compilation cache warmed by one unmeasured run
(--cache=cold: emptied before every run):
  train   python -m experiments.train --config=configs/cnn.py:digits (the default run)
  seeds   python -m experiments.seeds: the 5-seed study of the digits grid cell
          relu / max / dropout 0.5 (experiments.bench.studies' seeds study)
  sweep   python -m experiments.sweep --sweep=configs/sweeps/ablation.py:digits,grid
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
import os
import shutil
import tempfile
import time

from absl import flags

from experiments import cli
from experiments.bench import report, study_spec
from experiments.bench.startup_phases import ENTRIES, _commit, probe, table

_ENTRIES = flags.DEFINE_list('entries', list(ENTRIES), 'train, seeds, sweep.')
_ROUNDS = flags.DEFINE_integer('rounds', 3, 'Alternating rounds (medians over them).')
_CACHE = flags.DEFINE_enum('cache', 'warm', ['warm', 'cold'],
                           'The compilation cache: warmed by one unmeasured '
                           'run, or emptied before every run.')
_OUT = flags.DEFINE_string('out', '', 'Write OUT.md and OUT.json.')


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
    report.write_files(_OUT.value, '\n'.join(md) + '\n', {
        'machine': study_spec.machine(), 'commit': _commit(),
        'cache': _CACHE.value, 'load_before': load_before,
        'load_after': load_after, 'runs': runs})


if __name__ == '__main__':
  cli.run(main)
