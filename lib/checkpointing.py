"""Orbax checkpoints of the train state and the data iterator's position.

Every process takes part (Orbax coordinates multi-host saves). Saves are
async: the step loop goes on while the previous checkpoint is written, and a
checkpoint only counts once Orbax has committed it (half-written ones are
never restored). A committed checkpoint that cannot be read (truncated, or
its bytes changed: each save carries a CRC-32 of every array) is moved
aside, never deleted, and the previous one is used; all processes take that
decision together. One that reads but does not fit the config, or that the
file system will not let us read, is an error and nothing is moved.
"""
import json
import logging
import os
import sys
import zlib
from typing import Any

import grain
import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from jax.experimental import multihost_utils

from lib import errors, optim, progress

QUARANTINE = 'unreadable_checkpoints'


class _DropStorageErrors(logging.Filter):
  """Orbax's background save threads log a full disk's error with its
  traceback several times over; the trainer reports it as one line when the
  save is awaited (lib/trainer.py _storage_guarded), so the logs are noise."""

  def filter(self, record: logging.LogRecord) -> bool:
    if record.levelno < logging.ERROR or not (
        'orbax' in record.pathname or record.name == 'asyncio'):
      return True
    exc = record.exc_info[1] if record.exc_info else None
    if exc is not None and errors.storage_problem(exc):
      return False
    return errors.storage_problem(ValueError(record.getMessage())) is None


for _name in ('absl', 'asyncio'):
  logging.getLogger(_name).addFilter(_DropStorageErrors())


def _quiet_closed_loop(hook):
  """After a failed save, tensorstore's write callbacks still complete into
  Orbax's closed event loop; Python reports each as an unraisable
  'Event loop is closed', one traceback per array. Nothing is lost by
  dropping them: the save's own error is reported."""
  def unraisablehook(unraisable):
    value = unraisable.exc_value
    if not (isinstance(value, RuntimeError) and str(value) == 'Event loop is closed'):
      hook(unraisable)
  return unraisablehook


sys.unraisablehook = _quiet_closed_loop(sys.unraisablehook)


def _handlers():
  return {'state': ocp.StandardCheckpointHandler(),
          'data': grain.checkpoint.CheckpointHandler(),
          CHECKSUMS: ocp.JsonCheckpointHandler()}


# Orbax checksums only tensorstore's shard index, not the array bytes: a
# flipped bit in a parameter would load silently. So each save also stores a
# CRC-32 of every array, computed from the state being saved, and a restore
# that reads other bytes counts as unreadable.
CHECKSUMS = 'checksums'


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


class Checkpointer:

  def __init__(self, directory: str, keep: int):
    self.directory = epath.Path(directory).absolute()
    # Before Orbax scans the steps (it logs and skips what it cannot list):
    # a step this process may not read is the user's to fix, for all processes.
    _, problem = _attempt(self._list_steps)
    self._agree_refused(problem, f'listing the checkpoints in {self.directory}')
    self.manager = ocp.CheckpointManager(
        self.directory, item_handlers=_handlers(),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=True,
            # A save that a full disk or a kill cut short leaves its
            # temporary directory; free that space on the next start.
            cleanup_tmp_directories=True))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: Any, data_iter: grain.DatasetIterator | None):
    items = {'state': ocp.args.StandardSave(state),
             CHECKSUMS: ocp.args.JsonSave(checksums(state))}
    if data_iter is not None:
      items['data'] = grain.checkpoint.CheckpointSave(data_iter)
    self.manager.save(step, args=ocp.args.Composite(**items), force=True)

  def wait(self):
    self.manager.wait_until_finished()

  def check_compatible(self, step: int, metadata, state_like: Any,
                       data_iter: grain.DatasetIterator | None = None) -> None:
    """UserError if the checkpoint holds another state than this config's:
    other parameter shapes (the model changed), another optimizer state (the
    optimizer or its weight decay changed), another model state, or iterator
    state where there is none (the pipeline changed). Only what fits is
    restored; only what cannot be read is unreadable."""
    have = _shapes(metadata['state'])
    want = _shapes(state_like)
    fix = "use a new --workdir or the run's own config.json"
    for field, what in FIELDS:
      got = {k: v for k, v in have.items() if k.split('/')[0] == field}
      need = {k: v for k, v in want.items() if k.split('/')[0] == field}
      for key, shape in need.items():
        if got.get(key) != shape:
          where = _dotted(key)
          raise errors.UserError(
              f'the checkpoint in {self.directory} does not fit this config: '
              f'{what} {where} is {got.get(key, "absent")} there but {shape} '
              f'here; {fix}')
      if extra := sorted(set(got) - set(need)):
        raise errors.UserError(
            f'the checkpoint in {self.directory} does not fit this config: '
            f'it has {what} {_dotted(extra[0])} which this config lacks; {fix}')
    saved_data = (self.directory / str(step) / 'data').exists()
    if (data_iter is not None) != saved_data:
      raise errors.UserError(
          f'the checkpoint in {self.directory} does not fit this config: '
          f'it was saved {"with" if saved_data else "without"} grain iterator '
          f'state and this config\'s data.pipeline is '
          f'{"grain" if data_iter is not None else "device"}; {fix}')
    if saved_data:
      # grain saves each process's own position (process_I-of-N.json); on
      # another process count there is no position to give this process.
      names = [p.name for p in (self.directory / str(step) / 'data').iterdir()]
      counts = sorted({n.rsplit('-of-', 1)[1].split('.')[0] for n in names
                       if '-of-' in n})
      mine = (self.directory / str(step) / 'data' /
              f'process_{jax.process_index()}-of-{jax.process_count()}.json')
      if mine.exists() and not _same_structure(json.loads(mine.read_text()),
                                                data_iter.get_state()):
        # grain keeps one position per worker process: another
        # data.worker_count cannot take it up (it would fail, or read
        # another order without a word).
        raise errors.UserError(
            f'the checkpoint in {self.directory} holds grain iterator state '
            'of another data.worker_count; resume with the run\'s own '
            f'worker_count (its config.json); {fix}')
      if counts and str(jax.process_count()) not in counts:
        raise errors.UserError(
            f'the checkpoint in {self.directory} was saved by {counts[0]} '
            f'processes and this run has {jax.process_count()}: grain\'s '
            f'iterator position is per process; resume with {counts[0]} '
            'processes, or use data.pipeline=device, whose order follows '
            'the step')

  def restore(self, step: int, state_like: Any,
              data_iter: grain.DatasetIterator | None) -> Any:
    """Restores into the shapes, dtypes and shardings of `state_like`.

    `data_iter`, if given, is moved to the saved position in place. Raises
    ValueError if the arrays read are not the bytes that were saved.
    """
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state_like)
    items = {'state': ocp.args.StandardRestore(abstract)}
    if data_iter is not None:
      items['data'] = grain.checkpoint.CheckpointRestore(data_iter)
    has_sums = (self.directory / str(step) / CHECKSUMS).exists()  # Older saves lack them.
    if has_sums:
      items[CHECKSUMS] = ocp.args.JsonRestore()
    restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    if has_sums:
      verify(restored[CHECKSUMS], restored['state'])
    return restored['state']

  def restore_latest(self, state_like: Any, data_iter) -> tuple[int, Any]:
    """(step, state) of the newest readable checkpoint, or (0, state_like).

    Unreadable ones are moved aside (never deleted); every process takes the
    same decision, or they would wait for each other at different steps.
    """
    start_position = data_iter.get_state() if data_iter is not None else None
    for step in sorted(self.manager.all_steps(), reverse=True):
      # Orbax/tensorstore raise many types for unreadable data; a checkpoint
      # that reads but holds another state is the config's misfit, not
      # damage (UserError, nothing moved), and a permission problem is the
      # user's to fix (UserError, nothing moved).
      metadata, problem = _attempt(lambda: self._metadata(step))
      if self._all_agree_readable(step, problem):
        like, upgrade = _saved_layout(metadata, state_like)
        self.check_compatible(step, metadata, like, data_iter)
        state, problem = _attempt(lambda: self.restore(step, like, data_iter))
        if self._all_agree_readable(step, problem):
          return step, upgrade(state)
    if data_iter is not None:  # A failed restore may have moved it.
      data_iter.set_state(start_position)
    return 0, state_like

  def _metadata(self, step: int):
    # Orbax answers an unlistable directory with empty metadata, not an
    # error: list it first, so a permission problem says so.
    os.listdir(self.directory / str(step))
    metadata = self.manager.item_metadata(step)
    if 'state' not in metadata.keys() or metadata['state'] is None:
      raise ValueError(f'step {step} has no readable state metadata')
    return metadata

  def _list_steps(self) -> None:
    if self.directory.exists():
      for path in self.directory.iterdir():
        if path.name.isdigit():
          os.listdir(path)

  def _agree_refused(self, problem: Exception | None, where: str) -> np.ndarray:
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
          f'could not read {self.directory} ({where}: permission or storage); '
          'see their error')
    return votes

  def _all_agree_readable(self, step: int, problem: Exception | None) -> bool:
    """True if every process read the step; else sets it aside (False)."""
    votes = self._agree_refused(problem, f'reading the checkpoint at step {step}')
    if not np.any(votes):
      return True
    if problem is None:
      problem = RuntimeError(f'unreadable on process(es) '
                             f'{", ".join(map(str, np.flatnonzero(votes)))}')
    self._set_aside(step, problem)
    return False

  def _set_aside(self, step: int, e: Exception) -> None:
    moved = self._quarantine(step)
    progress.say(f'warning: the checkpoint at step {step} is unreadable '
                 f'({type(e).__name__}: {str(e).splitlines()[0][:200]}); '
                 f'moved it to {moved} and trying the previous one')

  def _quarantine(self, step: int) -> str:
    """Moves the step aside (process 0) and returns where to, for every
    process; a failed move is one error on every process, not a hang."""
    target = self.directory.parent / QUARANTINE / str(step)
    copy = 1
    while target.exists():  # An earlier copy of this step was set aside too.
      copy += 1
      target = target.parent / f'{step}.{copy}'
    problem = None
    if jax.process_index() == 0:
      try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.directory / str(step), target)
      except OSError as e:
        problem = e.strerror
    if jax.process_count() > 1:  # Also the barrier: process 0 has moved it.
      votes = multihost_utils.process_allgather(np.int32([problem is not None, copy]))
      failed, copy = bool(votes[0][0]), int(votes[0][1])
      target = target.parent / (str(step) if copy == 1 else f'{step}.{copy}')
      problem = problem or ('it could not be moved on process 0' if failed else None)
    if problem is not None:
      raise errors.UserError(
          f'the checkpoint {self.directory / str(step)} is unreadable and '
          f'cannot be moved aside ({problem}); move it out of '
          f'{self.directory} yourself, then run again')
    self.manager.reload()
    return str(target)

  def committed_step(self) -> int | None:
    """The newest step on disk that Orbax committed (uncommitted ones keep
    a temporary suffix until the save completes)."""
    steps = [int(p.name) for p in self.directory.iterdir() if p.name.isdigit()]
    return max(steps, default=None)

  def close(self):
    try:
      self.manager.wait_until_finished()
    finally:
      self.manager.close()


# The state's fields, in the order a misfit is reported, and what they are.
FIELDS = (('params', 'the parameter'), ('model_state', 'the model state'),
          ('opt_state', 'the optimizer state'), ('step', 'the step counter'),
          ('rng', 'the RNG key'))


def _same_structure(a, b) -> bool:
  """Same dict keys and list lengths all the way down (values aside)."""
  if isinstance(a, dict) and isinstance(b, dict):
    return a.keys() == b.keys() and all(_same_structure(a[k], b[k]) for k in a)
  if isinstance(a, list) and isinstance(b, list):
    return len(a) == len(b) and all(map(_same_structure, a, b))
  return not isinstance(a, (dict, list)) and not isinstance(b, (dict, list))


def _is_this_process_failing(e: Exception) -> bool:
  """Out of memory says nothing about the checkpoint's bytes: it must never
  get a good checkpoint set aside."""
  return isinstance(e, MemoryError) or 'RESOURCE_EXHAUSTED: Out of memory' in str(e)


def _attempt(read) -> tuple[Any, Exception | None]:
  """(read(), None), or (None, the exception) when it could not be read."""
  try:
    return read(), None
  except Exception as e:  # pylint: disable=broad-except
    if _is_this_process_failing(e):
      raise
    return None, e


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


_RATE_KEY = 'opt_state/hyperparams/' + optim.LEARNING_RATE


def _saved_layout(metadata, state_like):
  """(what to restore into, how to make it this code's state). Checkpoints
  saved before the learning rate moved into the optimizer state (lib/optim.py)
  hold the optimizer's own state alone: it is restored and wrapped, with this
  config's rate (config_history refuses a changed one), so those runs resume."""
  if _RATE_KEY not in _leaves(state_like) or _RATE_KEY in _leaves(metadata['state']):
    return state_like, lambda state: state
  fresh = state_like.opt_state
  like = state_like.replace(opt_state=optim.inner_state(fresh))
  return like, lambda state: state.replace(
      opt_state=optim.wrap_inner_state(fresh, state.opt_state, state.step))


def _shapes(tree) -> dict[str, tuple]:
  return {k: tuple(getattr(leaf, 'shape', ())) for k, leaf in _leaves(tree).items()}


def _dotted(key: str) -> str:
  field, _, rest = key.partition('/')
  return field + ''.join(f'[{part!r}]' for part in rest.split('/') if part)


def load_state(directory: str, step: int | None = None,
               verify_checksums: bool = True) -> dict:
  """Reads a run's saved state as numpy arrays (for analysis and tests).

  Works whatever the device layout of the run that saved it. Raises
  ChecksumMismatch if its bytes changed since the save.
  """
  manager = ocp.CheckpointManager(epath.Path(directory).absolute(),
                                  item_handlers={'state': ocp.StandardCheckpointHandler(),
                                                 CHECKSUMS: ocp.JsonCheckpointHandler()})
  step = manager.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f'no checkpoint in {directory}')
  metadata = manager.item_metadata(step)['state']
  here = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=here), metadata)
  items = {'state': ocp.args.StandardRestore(target)}
  has_sums = (epath.Path(directory).absolute() / str(step) / CHECKSUMS).exists()
  if has_sums:
    items[CHECKSUMS] = ocp.args.JsonRestore()
  restored = manager.restore(step, args=ocp.args.Composite(**items))
  manager.close()
  if has_sums and verify_checksums:
    verify(restored[CHECKSUMS], restored['state'])
  return jax.device_get(restored['state'])
