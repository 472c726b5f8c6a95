"""Reads a study directory: every planned run, finished or not."""
import dataclasses
import json
import os

from lib import errors, metrics_writer, provenance, trainer
from lib.sweeps import layout, shrink


@dataclasses.dataclass
class Run:
  name: str
  group: str
  seed: int
  overrides: dict          # Swept field -> value.
  status: str              # 'finished' | 'failed' | 'missing'
  error: str | None = None
  results: dict | None = None
  metrics: list[dict] = dataclasses.field(default_factory=list)
  config: dict | None = None
  commits: list[str] = dataclasses.field(default_factory=list)  # Code it ran on.
  arm: str = ''            # Its group without the tuned fields (= group if none).

  def curve(self, split: str, key: str = 'accuracy') -> dict[int, float]:
    return {m['step']: m[key] for m in self.metrics
            if m['split'] == split and key in m}


@dataclasses.dataclass
class Study:
  directory: str
  fields: list[str]        # Swept fields, seed excluded, in declaration order.
  runs: list[Run]
  tuned_fields: list[str] = dataclasses.field(default_factory=list)
  shared: dict = dataclasses.field(default_factory=dict)  # Tuned fields' base values.
  # --seeds/--set the study was run with (lib/sweeps/shrink.py); {}: none.
  command_line: dict = dataclasses.field(default_factory=dict)

  @property
  def arm_fields(self) -> list[str]:
    return [f for f in self.fields if f not in self.tuned_fields]

  @property
  def finished(self) -> list[Run]:
    return [r for r in self.runs if r.status == 'finished']


def _read_json(path: str):
  with open(path) as f:
    return json.load(f)


def _in_current_names(results: dict, metrics: list[dict]) -> tuple[dict, list]:
  """A finished run's records in today's split names. Runs made up to
  commit 6c2ef06 named the test split 'eval' where they had no validation
  data and the training split in inference mode 'train_eval': their results
  stay readable (they cannot be resumed: lib/config_history.py)."""
  if 'best_eval_accuracy' in results:
    results = {'test_accuracy': results.get('eval_accuracy'),
               'test_loss': results.get('eval_loss'),
               'test_split': results.get('eval_split'), **results,
               'best_accuracy': results['best_eval_accuracy'],
               'best_step': results['best_eval_step']}
  renamed = []
  for m in metrics:
    if m['split'] == 'train_eval':
      results = {**results, **{f'train_inference_{k}': m[k]
                               for k in ('loss', 'accuracy') if k in m}}
    else:
      renamed.append({**m, 'split': 'test'} if m['split'] == 'eval' else m)
  return results, renamed


def load(study_dir: str) -> Study:
  plan = layout.read_plan(study_dir)
  if plan is None:
    raise errors.UserError(
        f'{study_dir} has no {layout.PLAN_FILE}: not a study directory; run '
        f'`python -m experiments.sweep --sweep=... --study_dir={study_dir}` first')
  runs = []
  for entry in plan['runs']:
    path = layout.run_dir(study_dir, entry['name'])
    run = Run(entry['name'], entry['group'], entry['seed'], entry['overrides'],
              'missing', arm=entry.get('arm') or entry['group'])
    results_path = os.path.join(path, trainer.RESULTS_FILE)
    if os.path.exists(results_path):
      run.status = 'finished'
      run.results, run.metrics = _in_current_names(
          _read_json(results_path), metrics_writer.read(path))
      config_path = os.path.join(path, 'config.json')
      run.config = _read_json(config_path) if os.path.exists(config_path) else None
      run.commits = provenance.commits(path)
    elif (error := layout.failure(study_dir, entry['name'])) is not None:
      run.status, run.error = 'failed', error
    runs.append(run)
  fields = [f for f in plan['fields'] if f != 'seed']
  return Study(study_dir, fields, runs, plan.get('tuned_fields', []),
               plan.get('shared', {}), plan.get(shrink.PLAN_KEY, {}))
