"""Runs a study's tasks: skips finished runs, resumes interrupted ones, and
records a failing run as failed without stopping the others.

A finished run has results.json; anything else runs (again). Resuming is the
loop's own (lib/trainer.py): it restores a run's checkpoint, or a seed
group's stacked one (lib/multi_seed.py). Every run also records its training
split's accuracy in inference mode (results.json's train_inference_accuracy),
for the report's gap. A failure leaves RUN/FAILED holding the error; the next
invocation tries that run again.
"""
import dataclasses
import traceback

from lib import errors, multi_seed, progress, trainer
from lib.sweeps import layout
from lib.sweeps.plan import RunSpec, Task


@dataclasses.dataclass
class Outcome:
  finished: list[str] = dataclasses.field(default_factory=list)
  skipped: list[str] = dataclasses.field(default_factory=list)
  failed: dict[str, str] = dataclasses.field(default_factory=dict)

  def line(self) -> str:
    text = (f'{len(self.finished)} finished, {len(self.skipped)} already '
            f'finished (skipped), {len(self.failed)} failed')
    if self.failed:
      text += ': ' + '; '.join(f'{n}: {e}' for n, e in self.failed.items())
    return text


def _pending(task: Task, study_dir: str, outcome: Outcome) -> list[RunSpec]:
  todo = []
  for r in task.runs:
    if layout.is_finished(study_dir, r.name):
      outcome.skipped.append(r.name)
    else:
      todo.append(r)
  return todo


def validate(tasks: list[Task], study_dir: str) -> None:
  """Builds each pending config's model and data shape-only: a bad value
  (an unknown activation name, say) stops the study before any run starts."""
  checked = set()
  for task in tasks:
    for r in task.runs:
      if r.group in checked or layout.is_finished(study_dir, r.name):
        continue
      try:
        trainer.Run(r.config)
      except errors.UserError as e:
        raise errors.UserError(f'run {r.name!r}: {e}') from None
      checked.add(r.group)


def _fail(runs: list[RunSpec], study_dir: str, e: Exception, outcome: Outcome):
  message = f'{type(e).__name__}: {e}'.splitlines()[0]
  details = traceback.format_exc()
  for r in runs:
    layout.record_failure(study_dir, r.name, message, details)
    outcome.failed[r.name] = message
  progress.say(f'FAILED {", ".join(r.name for r in runs)}: {message}')


def _record(run: RunSpec, result, study_dir: str, outcome: Outcome) -> None:
  if isinstance(result, Exception):  # It diverged, or failed beside the others.
    message = f'{type(result).__name__}: {result}'.splitlines()[0]
    layout.record_failure(study_dir, run.name, message,
                          ''.join(traceback.format_exception(result)))
    outcome.failed[run.name] = message
    progress.say(f'FAILED {run.name}: {message}')
  else:
    layout.clear_failure(study_dir, run.name)
    outcome.finished.append(run.name)


def run_task(task: Task, study_dir: str, outcome: Outcome,
             seeds_per_program: int) -> None:
  """Raises multi_seed.Preempted when SIGTERM stopped a run (checkpointed)."""
  todo = _pending(task, study_dir, outcome)
  if not todo:
    progress.say(f'task {task.index} ({task.name}): already finished')
    return
  progress.say(f'task {task.index}: {task.name}')
  # One path for all: lib/multi_seed.py, whose program is compiled once and
  # kept for the next call of the same config. A tuned arm's rates x seeds
  # are one program too (the rate is a value in the state); stacked, their
  # checkpoints are in the arm's directory. Unstacked, one failing run does
  # not mark the others failed (keep_going).
  per_program = seeds_per_program if task.vmapped else 1
  recorded = set()

  def record(i, result):  # As each run ends, not at the task's end.
    recorded.add(i)
    _record(todo[i], result, study_dir, outcome)
  try:
    multi_seed.train_and_evaluate(
        [r.config for r in todo], [layout.run_dir(study_dir, r.name) for r in todo],
        layout.group_dir(study_dir, task.group), per_program, keep_going=True,
        on_done=record)
  except multi_seed.Preempted:
    raise
  except Exception as e:  # pylint: disable=broad-except
    # One broken run (or group) must not take the study down with it.
    if unrecorded := [r for i, r in enumerate(todo) if i not in recorded]:
      _fail(unrecorded, study_dir, e, outcome)


def run_tasks(tasks: list[Task], study_dir: str,
              seeds_per_program: int) -> Outcome:
  """Runs `tasks` in order; call validate() first."""
  outcome = Outcome()
  for task in tasks:
    run_task(task, study_dir, outcome, seeds_per_program)
  return outcome
