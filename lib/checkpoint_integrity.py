"""Whether a saved checkpoint can be used, decided by every process alike.

Orbax checksums only tensorstore's shard index, not the array bytes: a
flipped bit in a parameter would load silently. So each save also stores a
CRC-32 of every array, computed from the state being saved, and a restore
that reads other bytes counts as unreadable. An unreadable checkpoint is
moved aside, never deleted, and the previous one is used. One that reads but
does not fit the config, or that the file system will not let us read, is
the user's to fix: an error, nothing moved. Every process votes on each
decision, or they would wait for each other at different steps.
"""
import os
import zlib
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

from lib import errors, optim, progress

CHECKSUMS = 'checksums'  # The checkpoint item that holds them.
QUARANTINE = 'unreadable_checkpoints'  # Beside the checkpoint directory.
# Checkpoints saved before the learning rate moved into the optimizer state
# (2026-12-02) are refused; this is the last commit that resumes them.
LAST_COMMIT_FOR_OLDER = 'e9fafb6'
_RATE_KEY = 'opt_state/hyperparams/' + optim.LEARNING_RATE
# The state's fields, in the order a misfit is reported, and what they are.
FIELDS = (('params', 'the parameter'), ('model_state', 'the model state'),
          ('opt_state', 'the optimizer state'), ('step', 'the step counter'),
          ('rng', 'the RNG key'),
          ('ema', 'the average of the weights (train.ema_decay)'))


def checksums(state: Any) -> dict[str, str]:
  """{leaf path: crc32 of its bytes} for every leaf each process holds whole
  (the replicated state of data-parallel runs; a sharded leaf is skipped)."""
  whole = {}
  for path, leaf in _leaves(state).items():
    sharding = getattr(leaf, 'sharding', None)
    if sharding is not None and not sharding.is_fully_replicated:
      continue
    if hasattr(leaf, 'dtype') and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
      leaf = jax.random.key_data(leaf)
    whole[path] = leaf.addressable_data(0) if sharding is not None else leaf
  host = jax.device_get(whole)  # One transfer for the whole state.
  # Viewed as bytes without a copy (memoryview refuses ml_dtypes' bfloat16).
  return {path: f'{zlib.crc32(np.ascontiguousarray(a).reshape(-1).view(np.uint8)):08x}'
          for path, a in host.items()}


class ChecksumMismatch(ValueError):
  """The arrays read are not the bytes that were saved."""


def verify(saved: dict[str, str], state: Any) -> None:
  read = checksums(state)
  if bad := sorted(k for k in saved if k in read and saved[k] != read[k]):
    raise ChecksumMismatch(f'checksum mismatch in {_dotted(bad[0])} (and '
                           f'{len(bad) - 1} more): the bytes on disk changed')


def check_fits(directory, step: int, metadata, state_like: Any, data_iter) -> None:
  """UserError if the checkpoint holds another state than this config's:
  other parameter shapes (the model changed), another optimizer state (the
  optimizer or its weight decay changed), another model state, or iterator
  state where there is none (the pipeline changed). Only what fits is
  restored; only what cannot be read is unreadable."""
  have = _shapes(metadata['state'])
  want = _shapes(state_like)
  if _RATE_KEY in want and _RATE_KEY not in have:
    raise errors.UserError(
        f'the checkpoint in {directory} was saved before the learning rate '
        f'moved into the optimizer state; commit {LAST_COMMIT_FOR_OLDER} is the '
        'last that resumes it (git checkout it), or use a new --workdir')
  fix = "use a new --workdir or the run's own config.json"
  for field, what in FIELDS:
    got = {k: v for k, v in have.items() if k.split('/')[0] == field}
    need = {k: v for k, v in want.items() if k.split('/')[0] == field}
    for key, shape in need.items():
      if got.get(key) != shape:
        raise errors.UserError(
            f'the checkpoint in {directory} does not fit this config: '
            f'{what} {_dotted(key)} is {got.get(key, "absent")} there but '
            f'{shape} here; {fix}')
    if extra := sorted(set(got) - set(need)):
      raise errors.UserError(
          f'the checkpoint in {directory} does not fit this config: '
          f'it has {what} {_dotted(extra[0])} which this config lacks; {fix}')
  data = directory / str(step) / 'data'
  if (data_iter is not None) != data.exists():
    raise errors.UserError(
        f'the checkpoint in {directory} does not fit this config: '
        f'it was saved {"with" if data.exists() else "without"} grain iterator '
        f'state and this config\'s data.pipeline is '
        f'{"grain" if data_iter is not None else "device"}; {fix}')
  # Nothing more to fit: the grain iterator resumes at the checkpoint's
  # step, whatever process and worker counts saved it (lib/checkpointing.py).


def attempt(read) -> tuple[Any, Exception | None]:
  """(read(), None), or (None, the exception) when it could not be read."""
  try:
    return read(), None
  except Exception as e:  # pylint: disable=broad-except
    # Out of memory says nothing about the checkpoint's bytes: it must
    # never get a good checkpoint set aside.
    if isinstance(e, MemoryError) or 'RESOURCE_EXHAUSTED: Out of memory' in str(e):
      raise
    return None, e


def agree_refused(directory, problem: Exception | None, where: str) -> np.ndarray:
  """Every process's vote (0 read, 1 unreadable, 2 the file system
  refused); raises for all of them if any was refused, so none waits for
  another that stopped."""
  refused = problem is not None and errors.storage_problem(problem) is not None
  vote = 2 if refused else int(problem is not None)
  votes = (multihost_utils.process_allgather(np.int32(vote))
           if jax.process_count() > 1 else np.array([vote]))
  if refused:
    raise errors.storage_error(problem, where)
  if np.any(votes == 2):
    raise errors.UserError(
        f'process(es) {", ".join(map(str, np.flatnonzero(votes == 2)))} '
        f'could not read {directory} ({where}: permission or storage); '
        'see their error')
  return votes


def all_readable(directory, step: int, problem: Exception | None) -> bool:
  """True if every process read the step; else sets it aside (False)."""
  votes = agree_refused(directory, problem, f'reading the checkpoint at step {step}')
  if not np.any(votes):
    return True
  if problem is None:
    problem = RuntimeError(f'unreadable on process(es) '
                           f'{", ".join(map(str, np.flatnonzero(votes)))}')
  moved = _set_aside(directory, step)
  progress.say(f'warning: the checkpoint at step {step} is unreadable '
               f'({type(problem).__name__}: {str(problem).splitlines()[0][:200]}); '
               f'moved it to {moved} and trying the previous one')
  return False


def _set_aside(directory, step: int) -> str:
  """Moves the step aside (process 0) and returns where to, for every
  process; a failed move is one error on every process, not a hang."""
  target = directory.parent / QUARANTINE / str(step)
  copy = 1
  while target.exists():  # An earlier copy of this step was set aside too.
    copy += 1
    target = target.parent / f'{step}.{copy}'
  problem = None
  if jax.process_index() == 0:
    try:
      target.parent.mkdir(parents=True, exist_ok=True)
      os.replace(directory / str(step), target)
    except OSError as e:
      problem = e.strerror
  if jax.process_count() > 1:  # Also the barrier: process 0 has moved it.
    votes = multihost_utils.process_allgather(np.int32([problem is not None, copy]))
    failed, copy = bool(votes[0][0]), int(votes[0][1])
    target = target.parent / (str(step) if copy == 1 else f'{step}.{copy}')
    problem = problem or ('it could not be moved on process 0' if failed else None)
  if problem is not None:
    raise errors.UserError(
        f'the checkpoint {directory / str(step)} is unreadable and '
        f'cannot be moved aside ({problem}); move it out of '
        f'{directory} yourself, then run again')
  return str(target)


def _token(key) -> str:
  for attr in ('key', 'name', 'idx'):
    if hasattr(key, attr):
      return str(getattr(key, attr))
  return str(key)


def _leaves(tree) -> dict[str, Any]:
  """Leaves by path ('params/conv0_0/conv/kernel'), for a TrainState as for
  the tree of a checkpoint's metadata (namedtuple fields and dict keys read
  alike)."""
  return {'/'.join(_token(k) for k in path): leaf
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _shapes(tree) -> dict[str, tuple]:
  return {k: tuple(getattr(leaf, 'shape', ())) for k, leaf in _leaves(tree).items()}


def _dotted(key: str) -> str:
  field, _, rest = key.partition('/')
  return field + ''.join(f'[{part!r}]' for part in rest.split('/') if part)
