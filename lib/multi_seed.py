"""Several seeds of one config trained by one compiled program.

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

Every seed still gets its own workdir with config.json, metrics.jsonl and
results.json, as an ordinary run; each chunk's stacked state is
checkpointed under the group's directory, so an interrupted group resumes.
Only the on-device pipeline is supported (grain iterators are per run).
"""
import os

import jax
import ml_collections

from lib import errors, trainer

Preempted = trainer.Preempted


def _check_same_but_seed(configs: list[ml_collections.ConfigDict]) -> None:
  def without_seed(c):
    d = c.to_dict()
    d.pop('seed')
    return d
  first = without_seed(configs[0])
  if any(without_seed(c) != first for c in configs[1:]):
    raise errors.UserError('multi_seed: the configs must differ only in seed')
  if len({c.seed for c in configs}) != len(configs):
    raise errors.UserError('multi_seed: every config needs its own seed')
  if configs[0].data.pipeline != 'device':
    raise errors.UserError(
        "multi_seed trains seeds jointly only with data.pipeline='device'")
  if jax.process_count() > 1:
    raise errors.UserError('multi_seed runs in a single process')


def default_seeds_per_program() -> int:
  """All seeds in one program on accelerators; one at a time on CPU."""
  return 0 if jax.default_backend() != 'cpu' else 1


def train_and_evaluate(configs: list[ml_collections.ConfigDict],
                       workdirs: list[str], group_dir: str,
                       seeds_per_program: int = 0) -> list:
  """Trains configs[i] (identical but for the seed) into workdirs[i].

  Seeds go through one compiled program in chunks of `seeds_per_program`
  (0: all at once). Chunk checkpoints live in group_dir/checkpoints/.
  Returns, per seed, lib/trainer.py's results dict, or the errors.Diverged
  of a seed whose loss stopped being finite (it gets no results.json).
  Raises Preempted after saving a checkpoint on SIGTERM.
  """
  _check_same_but_seed(configs)
  program = trainer.Program(trainer.Run(configs[0]), stacked=True)
  size = seeds_per_program or len(configs)
  results = []
  for lo in range(0, len(configs), size):
    chunk, dirs = configs[lo:lo + size], workdirs[lo:lo + size]
    name = 'seed=' + ','.join(str(c.seed) for c in chunk)
    results += trainer.train(program, chunk, dirs,
                             os.path.join(group_dir, 'checkpoints', name),
                             evaluate_train_split=True)
  return results
