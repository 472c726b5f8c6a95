r"""Runs an ablation study: every run of a sweep, each in its own directory.

  python -m experiments.sweep --sweep=configs/sweeps/ablation.py:digits,grid \
      --study_dir=studies/digits_grid
  python -m experiments.sweep --sweep=... --study_dir=... --list
  python -m experiments.sweep --sweep=... --study_dir=... --task_index=3
  python -m experiments.sweep --sweep=configs/sweeps/ablation.py:digits,grid \
      --study_dir=studies/digits_grid_quick --seeds=2 --set=train.num_epochs=2

`--seeds=N` and `--set=FIELD=VALUE` (repeatable) make a quick version of any
study; they are recorded in STUDY/sweep.json and at the top of its report,
and a study directory is resumed only with the flags it was started with.

Finished runs (results.json) are skipped, interrupted ones resume from their
checkpoints, and a failing run is recorded in RUN/FAILED while the others go
on (the exit status is then 1). Runs that differ only in seed form one task,
trained by one compiled program (lib/multi_seed.py). `--task_index` (or
$SLURM_ARRAY_TASK_ID) runs one task: that is what each element of the SLURM
array written by `--sbatch` (used by `./launch.sh slurm`) does.
Then: python -m experiments.report --study_dir=...
"""
# Before anything heavy is imported: a SIGTERM or Ctrl-C during start-up
# stops the run at its first step with a checkpoint (lib/preemption.py).
from lib import preemption  # pylint: disable=g-bad-import-order
preemption.install(interrupt=True)

import os
import sys

from absl import flags

from experiments import cli

_SWEEP = flags.DEFINE_string('sweep', None, 'Sweep file with get_sweep().')
_STUDY_DIR = flags.DEFINE_string('study_dir', None, 'Directory of the study.')
_TASK = flags.DEFINE_integer(
    'task_index', None, 'Run only this task (default: $SLURM_ARRAY_TASK_ID '
    'if set, else all tasks).')
_SEEDS = flags.DEFINE_integer(
    'seeds', None, 'Seeds per arm instead of the study\'s (its first seed '
    'onwards), for a quick version; recorded in the plan and report.',
    lower_bound=1)
_SET = flags.DEFINE_multi_string(
    'set', [], 'FIELD=VALUE: set a dotted config field in every run, on top of '
    'the study\'s fixed settings (e.g. train.num_epochs=2); repeatable; '
    'recorded in the plan and report.')
_LIST = flags.DEFINE_bool('list', False, 'Print the tasks and their state; run nothing.')
_VMAP = flags.DEFINE_bool(
    'vmap_seeds', True, 'Group runs that differ only in seed into one task '
    'and one compiled program; false: one task per run.')
_PER_PROGRAM = flags.DEFINE_integer(
    'seeds_per_program', -1, 'Seeds trained at once by the vmapped program '
    '(0: all of a group; -1: all on accelerators, 1 on CPU, where vmapped '
    'convolutions are slower than one seed after another).')
_SBATCH = flags.DEFINE_bool(
    'sbatch', False, 'Write STUDY_DIR/sbatch.sh (a SLURM array, one element '
    'per task) and print its path; run nothing.')
_RESOURCES = cli.define_slurm_resource_flags('task')
flags.adopt_module_key_flags(cli)  # --help lists them with this module's.
_PYTHON = flags.DEFINE_string('python', None, 'Interpreter for the SLURM tasks '
                              '(default: this one).')
flags.mark_flags_as_required(['sweep', 'study_dir'])


def _task_index() -> int | None:
  if _TASK.value is not None:
    return _TASK.value
  env = os.environ.get('SLURM_ARRAY_TASK_ID')
  return int(env) if env not in (None, '') else None


def _list(study, study_dir: str) -> None:
  from lib.sweeps import layout  # pylint: disable=g-import-not-at-top
  for task in study.tasks:
    names = [r.name for r in task.runs]
    done = sum(layout.is_finished(study_dir, n) for n in names)
    failed = sum(layout.failure(study_dir, n) is not None for n in names)
    print(f'{task.index}\t{task.name}\t{len(names)} run(s): {done} finished, '
          f'{failed} failed')
  print(f'{len(study.tasks)} tasks, {len(study.runs)} runs', file=sys.stderr)


def _write_sbatch(study, study_dir: str) -> None:
  from lib.sweeps import slurm, study as study_lib  # pylint: disable=g-import-not-at-top
  extra = [] if _VMAP.value else ['--novmap_seeds']
  if _PER_PROGRAM.value != -1:
    extra.append(f'--seeds_per_program={_PER_PROGRAM.value}')
  # Every array element must build the same shrunk study.
  if _SEEDS.value is not None:
    extra.append(f'--seeds={_SEEDS.value}')
  extra += [f'--set={s}' for s in _SET.value]
  text = slurm.script(
      study_dir=study_dir, sweep_path=study.sweep_path,
      num_tasks=len(study.tasks),
      python=os.path.abspath(_PYTHON.value or sys.executable),
      workdir=os.getcwd(), job_name=os.path.basename(os.path.abspath(study_dir)),
      resources=_RESOURCES(),
      extra_args=tuple(extra))
  study_lib.write_plan(study, study_dir)
  print(slurm.write(study_dir, text))


def main(argv):
  del argv
  from lib import accelerator, errors, multi_seed, progress, xla_cpu  # pylint: disable=g-import-not-at-top
  from lib.sweeps import layout, runner, shrink, slurm, study as study_lib  # pylint: disable=g-import-not-at-top
  study_dir = _STUDY_DIR.value
  study = study_lib.load(_SWEEP.value, _VMAP.value, _SEEDS.value,
                         shrink.parse_sets(_SET.value))  # Validates everything.
  # Other --seeds/--set than the study directory's: refused before JAX starts.
  shrink.check_same(layout.read_plan(study_dir), study.command_line, study_dir)
  models = {r.config.model.name for r in study.runs}
  for dtype in {r.config.train.compute_dtype for r in study.runs}:
    xla_cpu.prepare_for(dtype, models)  # Before JAX starts its backend.
  if _LIST.value:
    return _list(study, study_dir)
  from lib import compile_cache  # pylint: disable=g-import-not-at-top
  compile_cache.enable()
  if _SBATCH.value:
    # The login node normally sees the compute nodes' files: check the runs'
    # models and data here rather than in every array element.
    runner.validate(study.tasks, study_dir)
    return _write_sbatch(study, study_dir)

  accelerator.check_and_announce()  # Here, not on the login node above.
  index = _task_index()
  if index is None:
    tasks = study.tasks
  elif 0 <= index < len(study.tasks):
    tasks = [study.tasks[index]]
  else:
    raise errors.UserError(f'--task_index={index} is out of range: the study '
                           f'has tasks 0..{len(study.tasks) - 1}')
  runner.validate(tasks, study_dir)  # Before anything is written.
  if index is None:
    study_lib.write_plan(study, study_dir)
  else:
    study_lib.check_plan(study, study_dir)
  per_program = (multi_seed.default_seeds_per_program()
                 if _PER_PROGRAM.value < 0 else _PER_PROGRAM.value)
  try:
    outcome = runner.run_tasks(tasks, study_dir, per_program)
  except multi_seed.Preempted as e:
    what = 'Ctrl-C' if e.signal == 'SIGINT' else e.signal
    if os.environ.get('SLURM_ARRAY_TASK_ID'):  # Resubmitting skips finished runs.
      again = f'submit {os.path.join(study_dir, slurm.SCRIPT_FILE)} again with sbatch'
    else:
      again = 'run the same command again'
    progress.say(f'{what}: saved a checkpoint at step {e.step} and stopped; '
                 f'{again} to go on')
    if e.signal == 'SIGINT':  # As a shell reports Ctrl-C.
      sys.exit(preemption.INTERRUPTED_EXIT_STATUS)
    return
  progress.say(f'study {study_dir}: {outcome.line()}')
  if outcome.failed:
    sys.exit(1)


if __name__ == '__main__':
  cli.run(main)
