"""Set-up and resume of one training session, as a context manager.

Entering locks every run directory (lib/run_lock.py), initializes the seeds'
state, resumes it from the newest readable checkpoint, checks the config
against the one the run started with (lib/config_history.py), writes
config.json and provenance, and opens the records, the SIGTERM/Ctrl-C watch
and the checkpoint schedule. Leaving closes them in reverse order: a
checkpoint save that failed in the background surfaces there when the
session ended normally; otherwise the session's own error is the one
reported.
"""
import contextlib
import os
from typing import Sequence

import jax
import ml_collections
import numpy as np

from lib import atomic, checkpoint_schedule, checkpointing, config_history, errors
from lib import metrics_writer, optim, orbax_noise, preemption, progress, provenance
from lib import records, run_lock

CONFIG_FILE = config_history.CONFIG_FILE


class Session:
  """Holds, while open: `state` (resumed or fresh), `start` (its step),
  `records`, `checkpoints`, `data_iter` (the host pipeline's, or None),
  `inputs(step)`, `due(step)` (the checkpoint schedule), `stop_at(step)`
  (a signal arrived) and `splits(last)` (what to evaluate)."""

  def __init__(self, program, configs: Sequence[ml_collections.ConfigDict],
               workdirs: Sequence[str], checkpoint_dir: str,
               evaluate_train_split: bool = False,
               allow_config_change: bool = False):
    self.program, self.configs, self.workdirs = program, configs, workdirs
    self.checkpoint_dir = checkpoint_dir
    self.evaluate_train_split = evaluate_train_split
    self.allow_config_change = allow_config_change
    self.primary = jax.process_index() == 0

  def __enter__(self) -> 'Session':
    with contextlib.ExitStack() as stack:
      if self.primary:
        for w in self.workdirs:
          stack.enter_context(run_lock.RunLock(w))
      self._resume(stack)
      self._begin(stack)
      self._stack = stack.pop_all()
    return self

  def __exit__(self, *exc_info) -> bool:
    return self._stack.__exit__(*exc_info)

  def _resume(self, stack: contextlib.ExitStack) -> None:
    """The fresh state, then the newest readable checkpoint's, if any."""
    program, configs = self.program, self.configs
    config = program.run.config
    for c in configs:  # The program checked its own config; each seed's rate may differ.
      program.run.check_values(c)
    self.seeds = program.per_seed([int(c.seed) for c in configs])
    rates = program.per_seed([float(c.optimizer.learning_rate) for c in configs])
    state = program.init(self.seeds, rates)
    self.checkpoints = checkpointing.Checkpointer(self.checkpoint_dir,
                                                  config.train.keep_checkpoints)
    stack.push(self._close_checkpoints)
    # Before anything is restored or moved: a resume goes on with its own
    # config, or records on purpose what changed (lib/config_history.py).
    resuming = self.checkpoints.latest_step() is not None
    self.histories = [
        config_history.check(w, c.to_dict(), self.allow_config_change)
        if resuming else ([], {}) for c, w in zip(configs, self.workdirs)]
    # A program serves every seed of its config: the order is the first seed's.
    self.data_iter = (None if program.device else
                      program.run.data.with_seed(int(configs[0].seed)).train_iterator())
    self.start, self.state = self.checkpoints.restore_latest(state, self.data_iter)
    if self.start:  # The saved rate is the old config's; a changed one (allowed above) applies.
      self.state = self.state.replace(
          opt_state=optim.with_learning_rate(self.state.opt_state, rates))
    self.inputs = program.feed(self.seeds, self.data_iter)

  def _begin(self, stack: contextlib.ExitStack) -> None:
    """What a session says and writes before its first step."""
    program, config, start = self.program, self.program.run.config, self.start
    if start:
      which = f'{len(self.configs)} seed(s) ' if len(self.configs) > 1 else ''
      progress.say(f'resumed {which}from the checkpoint at step {start}')
    elif self.primary:  # Records of a session that saved nothing are replaced: say so.
      for w in self.workdirs:
        if logged := metrics_writer.read(w):
          progress.say(f'{w}: no checkpoint: starting from step 0 (replacing '
                       f'the records of an earlier session, up to step '
                       f"{max(r['step'] for r in logged)})")
    origin = provenance.record(start, {  # Every process: it gathers host names.
        'fast_cpu_gradients': config.train.fast_cpu_gradients,
        'gradient_rewrites': sorted(program.run.gradient_rewrites),
        'compute_dtype': config.train.compute_dtype,
        'pipeline': config.data.pipeline,
        'seeds_in_program': len(self.configs)})
    if self.primary:
      for c, w, (history, diff) in zip(self.configs, self.workdirs, self.histories):
        os.makedirs(w, exist_ok=True)
        if diff:
          progress.say(f'{w}: continuing at step {start} with changed '
                       f'{", ".join(diff)} (recorded in config.json)')
        atomic.write_json(os.path.join(w, CONFIG_FILE),
                          config_history.with_history(c.to_dict(), history, start, diff))
        provenance.append(w, origin)
    self.records = records.Records(program, self.workdirs, start, self.primary)
    stack.callback(self.records.close)
    # A stacked seed frozen at an earlier step diverged there.
    for i, s in enumerate(np.atleast_1d(jax.device_get(self.state.step))):
      if s != start:
        self.records.diverged[i] = errors.Diverged(
            f'the loss became non-finite at step {s + 1} (in an earlier '
            'session); lower the learning rate or check the data')
    watch = preemption.PreemptionWatch(self.checkpoints.manager)
    stack.callback(watch.close)
    self.stop_at = watch.reached
    self._schedule = checkpoint_schedule.Schedule(
        program.run.checkpoint_every, config.train.checkpoint_every_minutes,
        config.train.log_every_steps, agree=_process_0_decides(),
        min_seconds=checkpoint_schedule.min_seconds(config.train.checkpoint_every_steps))

  def due(self, step: int) -> bool:
    return self._schedule.due(step)

  def splits(self, last: bool) -> list[str]:
    """What is evaluated: the selection split while training; at the last
    step also the test split (once: nothing is chosen on it) and, if asked,
    the training split in inference mode (no dropout, no augmentation: a
    train/test gap that measures fit rather than the regularizer's noise;
    results.json's train_inference_*)."""
    if not last:
      return [self.program.selection_role]
    return list(dict.fromkeys([self.program.selection_role, 'test'] +
                              (['train'] if self.evaluate_train_split else [])))

  def save(self, step: int, state) -> None:
    guarded(lambda: self.checkpoints.save(step, state, self.data_iter), self.checkpoints)
    self._schedule.saved()

  def wait_for_saves(self) -> None:
    guarded(self.checkpoints.wait, self.checkpoints)

  def _close_checkpoints(self, exc_type, *_) -> bool:
    if exc_type is None:
      guarded(self.checkpoints.close, self.checkpoints)  # A failed async save surfaces here.
    else:  # The session's own error is the one to report.
      try:
        self.checkpoints.close()
      except Exception as e:  # pylint: disable=broad-except
        progress.say(f'warning: closing the checkpoints also failed: '
                     f'{type(e).__name__}: {str(e).splitlines()[0][:200]}')
    return False


def guarded(action, checkpoints: checkpointing.Checkpointer) -> None:
  """`action` (a save, a wait), with a full disk or a read-only directory as
  one line: Orbax only commits whole checkpoints, so the last committed one
  is intact and the run resumes from it once there is room."""
  try:
    action()
  except Exception as e:  # pylint: disable=broad-except
    step = checkpoints.committed_step()
    problem = errors.storage_error(e, context=(
        f'writing checkpoints to {checkpoints.directory}: ' +
        (f'the last committed one (step {step}) is intact; run the same '
         'command again to resume from it' if step is not None else
         'none was committed yet; the run starts over when run again')))
    if problem is None:
      raise
    # The refused writes' tasks may be collected any time from now on, even
    # at exit: their tracebacks would print around the one-line error.
    orbax_noise.quiet_from_now_on()
    raise problem from None


def _process_0_decides():
  """None for one process; else a function that gives every process
  process 0's value of a bool (the clock-based checkpoint decision)."""
  if jax.process_count() == 1:
    return None
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return lambda value: bool(multihost_utils.broadcast_one_to_all(np.bool_(value)))
