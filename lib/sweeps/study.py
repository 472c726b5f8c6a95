"""A loaded study: its runs and tasks, and the plan file that pins them.

The plan (STUDY/sweep.json) lists every run with its swept values and the
tasks in order, so SLURM array element K runs the same task that the
submitter counted, and the report knows which runs should exist.
"""
import dataclasses
import json
import os

from lib import errors
from lib.sweeps import layout, plan, shrink, spec


@dataclasses.dataclass(frozen=True)
class Study:
  sweep_path: str
  sweep: spec.Sweep
  runs: list[plan.RunSpec]
  tasks: list[plan.Task]
  shared: dict = dataclasses.field(default_factory=dict)  # Tuned fields' base values.
  # --seeds/--set given on the command line (lib/sweeps/shrink.py); {}: none.
  command_line: dict = dataclasses.field(default_factory=dict)

  @property
  def tuned_fields(self) -> tuple[str, ...]:
    return self.sweep.tune.fields if self.sweep.tune else ()

  def plan_dict(self) -> dict:
    return {
        'sweep': self.sweep_path,
        shrink.PLAN_KEY: _jsonable(self.command_line),
        'config': self.sweep.config,
        'fields': list(self.sweep.axes.fields) + list(self.tuned_fields),
        'fixed': self.sweep.fixed,
        'tuned_fields': list(self.tuned_fields),
        'shared': self.shared,
        'runs': [{'name': r.name, 'group': r.group, 'seed': r.seed,
                  'overrides': r.overrides, 'arm': r.arm} for r in self.runs],
        'tasks': [[r.name for r in t.runs] for t in self.tasks],
    }


def load(sweep_path: str, vmap_seeds: bool = True, seeds: int | None = None,
         sets: dict | None = None) -> Study:
  """Loads and validates a sweep file, shrunk by `seeds` and `sets` (the
  --seeds/--set flags); raises UserError before any run."""
  sweep_path = os.path.abspath(sweep_path)
  sweep = spec.load(sweep_path)
  for field, value in (sets or {}).items():  # Errors that name the flag.
    try:
      plan.set_field(spec.load_config(sweep.config, sweep_path), field, value,
                     sweep.config)
    except errors.UserError as e:
      raise errors.UserError(f'--set={field}=...: {e}') from None
  sweep = shrink.apply(sweep, seeds, sets or {})
  runs = plan.expand(sweep, sweep_path)
  tasks = plan.make_tasks(runs, vmap_seeds and sweep.vmap_seeds,
                          tuned=sweep.tune is not None)
  return Study(sweep_path, sweep, runs, tasks,
               _jsonable(plan.shared_point(sweep, sweep_path)),
               shrink.record(seeds, sets or {}))


def _jsonable(obj):
  return json.loads(json.dumps(obj, default=list))


def write_plan(study: Study, study_dir: str) -> None:
  shrink.check_same(layout.read_plan(study_dir), study.command_line, study_dir)
  layout.write_json(os.path.join(study_dir, layout.PLAN_FILE), study.plan_dict())


def check_plan(study: Study, study_dir: str) -> None:
  """Array tasks must agree with the plan the job was submitted with."""
  saved = layout.read_plan(study_dir)
  if saved is None:
    write_plan(study, study_dir)
    return
  shrink.check_same(saved, study.command_line, study_dir)
  if saved['tasks'] != _jsonable(study.plan_dict())['tasks']:
    raise errors.UserError(
        f'the sweep {study.sweep_path} no longer matches the plan in '
        f'{study_dir}/{layout.PLAN_FILE} (written when the study was submitted); '
        f'use a new --study_dir, or delete the plan to start over')
