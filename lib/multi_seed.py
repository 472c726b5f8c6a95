"""Several seeds of one config trained by one compiled program: the path
every entry point that trains seeds takes (experiments.seeds, the sweep
runner, each SLURM array task), so each distinct program compiles once per
process.

The seeds' states are stacked along a leading axis and stepped by one
vmapped program (lib/train_step.py make_step), so every seed sees exactly
the batches and dropout masks of its own sequential run (same values, to
float tolerance), while start-up, data loading and compilation are paid once
per group instead of once per run. The loop is lib/trainer.py's `train`.

`seeds_per_program` splits a group into chunks trained one after another by
the same compiled program (it only sees the chunk size): all seeds at once
where the accelerator has room; 1 where vmap does not pay, e.g. XLA:CPU turns
vmapped convolutions into grouped convolutions, which it runs slower than
the separate ones (see experiments/bench/sweep_speedup.py).

With 1 seed per program the program is the ordinary run's (unstacked, over
the mesh), compiled once and reused for every seed: each seed's results are
bitwise those of `experiments.train` with that seed, its checkpoints are in
its own workdir (resumable and visualizable like any run), and either input
pipeline works. On CPU such seeds train side by side, `side_by_side()` at a
time, each in its own thread: a small model's step keeps about one core
busy (XLA has little to split), so a second seed uses the idle one (the
5-seed digits study 10.4 s -> 8.6 s on 2 cores, the same bits, and a third
where that saves a round; experiments/bench/README.md), and their lines
start with the part of the run's directory that tells it apart. With more,
the seeds' states are stacked, checkpointed per chunk under
group_dir/checkpoints/seed=a,b,..., and only the on-device pipeline is
supported (grain iterators are per run).

The last program built is kept (`_last`): consecutive groups, or tasks, of
one config in one process (`--novmap_seeds` sweeps) reuse it too. Only one,
since a program holds its split in device memory.

Every seed gets its own workdir with config.json, metrics.jsonl and
results.json, as an ordinary run.
"""
import concurrent.futures
import hashlib
import json
import os
import threading
import time
from typing import Any, Callable

import jax
import ml_collections

from lib import checkpointing, config_history, errors, parallel, preemption, progress
from lib import trainer

Preempted = trainer.Preempted


def _program_fields(config: ml_collections.ConfigDict) -> dict:
  """The config without what the program takes as values: the seed and the
  learning rate (lib/optim.py keeps it in the optimizer state)."""
  d = config.to_dict()
  d.pop('seed')
  for field in ('learning_rate', 'base_learning_rate'):  # The latter: scale_lr_with_batch.
    d['optimizer'].pop(field, None)
  return d


def _check_same_but_seed(configs: list[ml_collections.ConfigDict],
                         stacked: bool) -> None:
  first = _program_fields(configs[0])
  if any(_program_fields(c) != first for c in configs[1:]):
    raise errors.UserError(
        'multi_seed: the configs must differ only in seed and learning rate')
  runs = {(c.seed, c.optimizer.learning_rate) for c in configs}
  if len(runs) != len(configs):
    raise errors.UserError('multi_seed: every config needs its own seed '
                           '(or learning rate)')
  if not stacked:
    return
  if configs[0].data.pipeline != 'device':
    raise errors.UserError(
        "multi_seed trains seeds jointly only with data.pipeline='device'; "
        'use seeds_per_program=1 for the grain pipeline')
  if jax.process_count() > 1:
    raise errors.UserError('multi_seed runs stacked seeds in a single process')


def default_seeds_per_program() -> int:
  """All seeds in one program on accelerators; one at a time on CPU."""
  return 0 if jax.default_backend() != 'cpu' else 1


def side_by_side(config: ml_collections.ConfigDict, seeds: int) -> int:
  """How many of `seeds` unstacked seeds train at once, in threads, on a CPU
  with 2+ cores: 2 (a seed keeps about one core busy; 2 at a time trained
  1.4x faster than 1 on 2 cores), or 3 where that saves a round and leaves
  no seed alone in the last (5 seeds: 3 + 2, not 2 + 2 + 1, whose last seed
  leaves a core idle). Measured on 2 cores (experiments/bench/README.md):
  3 at a time trained 5 seeds 1.19x faster, 3 seeds 1.01-1.12x, 6 seeds
  1.03x, but 4 seeds (3 + 1) 0.84-0.94x. Else 1: one process only (a
  multi-process run's collectives need one order), and the device pipeline
  only (grain's worker processes are per run)."""
  if (jax.default_backend() != 'cpu' or jax.process_count() > 1
      or config.data.pipeline != 'device'):
    return 1
  # The cores this job may use (SLURM's cgroup), where the OS says (not macOS).
  cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  width = min(2, cores or 1)
  # From 3 seeds on, 3 at a time takes fewer rounds than 2; unless the last
  # round would be a seed alone (4: 3+1, 7: 3+3+1), where it gains nothing.
  if width == 2 and seeds >= 3 and seeds % 3 != 1:
    width = 3
  return min(width, seeds)


_last: list = []  # [(key, Program)]: the program built last in this process.


def program_for(config: ml_collections.ConfigDict,
                stacked: bool) -> trainer.Program:
  """The compiled program of config (any seed): the last one if it fits."""
  key = (json.dumps(_program_fields(config), sort_keys=True, default=str),
         stacked, jax.process_count(), jax.device_count())
  if _last and _last[0][0] == key:
    return _last[0][1]
  _last.clear()  # Free the old program's device arrays before building.
  run = trainer.Run(config)
  program = trainer.Program(run, stacked=stacked,
                            mesh=None if stacked else parallel.make_mesh())
  _last.append((key, program))
  return program


def train_and_evaluate(configs: list[ml_collections.ConfigDict],
                       workdirs: list[str], group_dir: str,
                       seeds_per_program: int = 0,
                       evaluate_train_split: bool = True,
                       keep_going: bool = False,
                       on_done: Callable[[int, Any], None] | None = None) -> list:
  """Trains configs[i] (identical but for the seed) into workdirs[i].

  Seeds go through one compiled program in chunks of `seeds_per_program`
  (0: all at once; 1: the ordinary run's program, checkpoints in each
  workdir). Stacked chunks checkpoint into group_dir/checkpoints/.
  `evaluate_train_split`: see lib/trainer.py's train.
  A seed that already finished is not trained again.
  Returns, per seed, lib/trainer.py's results dict, or the errors.Diverged
  of a seed whose loss stopped being finite (it gets no results.json).
  Raises Preempted after saving a checkpoint on SIGTERM. An error of one
  unstacked seed is raised once the seeds running beside it are done, or,
  with `keep_going` (a study: one broken run must not stop the others),
  returned in its place while the other seeds go on. `on_done(i, result)`
  is called as each seed's result (or returned error) is known.
  """
  stacked = seeds_per_program != 1
  _check_same_but_seed(configs, stacked)
  program = program_for(configs[0], stacked)
  if not stacked:
    return _unstacked(program, configs, workdirs, evaluate_train_split, keep_going,
                      on_done or (lambda i, result: None))
  size = seeds_per_program or len(configs)
  results = []
  for lo in range(0, len(configs), size):
    chunk, dirs = configs[lo:lo + size], workdirs[lo:lo + size]
    name = 'seed=' + ','.join(str(c.seed) for c in chunk)
    if len({c.optimizer.learning_rate for c in configs}) > 1:  # Names apart.
      name += ',lr=' + ','.join(f'{c.optimizer.learning_rate:g}' for c in chunk)
    if len(name) > 120:  # A tuned arm's many runs: a file name has 255 bytes.
      name = f'{len(chunk)}-runs-{hashlib.sha256(name.encode()).hexdigest()[:16]}'
    done = trainer.train(program, chunk, dirs,
                         os.path.join(group_dir, 'checkpoints', name),
                         evaluate_train_split)
    for i, result in enumerate(done, start=lo):
      if on_done:
        on_done(i, result)
    results += done
  return results


def _unstacked(program: trainer.Program, configs, workdirs,
               evaluate_train_split: bool, keep_going: bool,
               on_done: Callable[[int, Any], None]) -> list:
  """The seeds as ordinary runs, side_by_side() at a time; on_done(i, result)
  as each ends. Once one raises (Preempted; an error unless `keep_going`),
  the seeds not started yet are not started and those running finish as they
  would alone (a signal stops each with its checkpoint); then the first error
  in seed order is raised, or, if signals stopped them, the Preempted of the
  seed that stopped earliest."""
  stopped = threading.Event()

  def one(i, config, workdir):
    if stopped.is_set():
      return None
    try:
      result = _one(program, config, workdir, evaluate_train_split)
    except Exception as e:  # pylint: disable=broad-except
      if not keep_going or isinstance(e, Preempted):
        stopped.set()
        raise
      result = e
    on_done(i, result)
    return result
  runs = list(enumerate(zip(configs, workdirs)))
  width = side_by_side(configs[0], len(configs))
  if width == 1:
    return [one(i, c, w) for i, (c, w) in runs]
  common = os.path.commonpath([os.path.abspath(w) for w in workdirs])

  def labelled(i, config, workdir):  # Named by what tells the runs apart.
    with progress.labelled(f'[{os.path.relpath(os.path.abspath(workdir), common)}] '):
      try:
        return one(i, config, workdir)
      except Exception as e:
        if not isinstance(e, Preempted):  # Said now; raised once the others are done.
          progress.say(f'error: {type(e).__name__}: {str(e)[:300]}'.splitlines()[0])
        raise
  # Signal handlers are the main thread's: the sessions' threads cannot
  # install the SIGTERM watch that a run started from a library call relies on.
  preemption.install()
  pool = concurrent.futures.ThreadPoolExecutor(width)
  with checkpointing.one_save_at_a_time():
    futures = [pool.submit(labelled, i, c, w) for i, (c, w) in runs]
    interrupted = False
    try:
      # Slices of sleep, not one wait: the kernel may hand Ctrl-C to any
      # thread, and Python raises it in the main thread only once that runs
      # again (sleep, unlike concurrent.futures.wait, holds no future's lock
      # that the interrupt could leave taken).
      while not all(f.done() for f in futures):
        time.sleep(0.1)
    except BaseException:  # A KeyboardInterrupt where no handler catches Ctrl-C.
      interrupted = True
      stopped.set()
      preemption.stop()  # The running seeds save and stop at their next step...
      raise
    finally:  # ...before their saves may overlap again.
      pool.shutdown(wait=True, cancel_futures=True)
      if interrupted and preemption.received() == 'SIGINT':
        preemption.clear()  # That Ctrl-C is spent: the next call here trains.
  raised = [f.exception() for f in futures if f.exception() is not None]
  if others := [e for e in raised if not isinstance(e, Preempted)]:
    raise others[0]
  if raised:  # Stopped by a signal: each seed saved where it was; name the earliest.
    raise min(raised, key=lambda e: e.step)
  return [f.result() for f in futures]


def _one(program: trainer.Program, config: ml_collections.ConfigDict,
         workdir: str, evaluate_train_split: bool):
  """One seed as an ordinary run (errors.Diverged is returned, as a stacked
  seed's would be, so the other seeds go on)."""
  total = program.run.total_steps
  if (done := trainer.finished_results(workdir, total)) is not None:
    # A finished run asked for with another config is not that run.
    config_history.check(workdir, config.to_dict(), False)
    progress.say(f'{workdir} already finished its {total} steps')
    return done
  try:
    return trainer.train(program, [config], [workdir],
                         os.path.join(workdir, 'checkpoints'),
                         evaluate_train_split)[0]
  except errors.Diverged as e:
    return e
