"""A tuned study's choices and its two comparisons.

Each arm (a point of the study's axes, e.g. activation=sigmoid,pooling=max)
was trained at every value of the tuned field(s) with every seed. Here:
- `choose`: each arm's value with the best mean *validation* accuracy over
  its seeds (ties: the lower mean validation loss). Only values whose every
  seed finished compete (a learning rate that diverges for one seed is not
  a good choice); an arm with a run still missing is not chosen yet. Test
  accuracy is never read for this.
- `paired_rows`: for each factor, value a vs value b over runs matched on
  the other factors and the seed, on the test split, once with every arm at
  the shared (base config's) value and once with each arm at its chosen
  value; Holm-adjusted p-values over all comparisons of one regime, and the
  smallest difference the seed count can detect (paired t, alpha 0.05,
  power 0.8).
"""
import dataclasses
import itertools
import json
import math

import numpy as np

from lib.report import measures, stats
from lib.report.runs import Run, Study
from lib.sweeps import naming

SHARED, TUNED = 'shared', 'tuned'


@dataclasses.dataclass(frozen=True)
class Choice:
  arm: str
  value: dict | None             # The chosen tuned values; None: not chosen.
  validation: dict               # Value key -> mean validation accuracy (complete values).
  margin: float | None           # Chosen minus runner-up mean validation accuracy.
  runner_up: dict | None
  why_not: str = ''              # Why no value was chosen.
  # The smallest or largest value of a single numeric tuned field was
  # chosen: the best may lie outside the grid; widen it.
  at_edge: bool = False


def _key(point: dict) -> str:
  return json.dumps(point, sort_keys=True)


def _validation(run: Run) -> tuple[float, float]:
  r = run.results
  if r.get('chosen_on') != 'validation':
    raise ValueError(f'{run.name} was not evaluated on validation data')
  return r['validation_accuracy'], r['validation_loss']


def tuned_point(run: Run, tuned_fields: list[str]) -> dict:
  return {f: run.overrides[f] for f in tuned_fields}


def choose(study: Study, tuned_fields: list[str]) -> dict[str, Choice]:
  """Each arm's chosen value (see the top), by arm name."""
  arms: dict[str, list[Run]] = {}
  for r in study.runs:
    arms.setdefault(r.arm, []).append(r)
  choices = {}
  for arm, runs in arms.items():
    by_value: dict[str, list[Run]] = {}
    for r in runs:
      by_value.setdefault(_key(tuned_point(r, tuned_fields)), []).append(r)
    missing = [r.name for r in runs if r.status == 'missing']
    if missing:
      choices[arm] = Choice(arm, None, {}, None, None,
                            f'{len(missing)} run(s) not finished yet')
      continue
    scores = {}
    for value, members in by_value.items():
      if all(r.status == 'finished' for r in members):
        acc, loss = zip(*(_validation(r) for r in members))
        scores[value] = (sum(acc) / len(acc), -sum(loss) / len(loss))
    if not scores:
      choices[arm] = Choice(arm, None, {}, None, None, 'every value has a failed run')
      continue
    ranked = sorted(scores, key=scores.get, reverse=True)
    best = ranked[0]
    second = ranked[1] if len(ranked) > 1 else None
    choices[arm] = Choice(
        arm, json.loads(best), {v: s[0] for v, s in scores.items()},
        None if second is None else scores[best][0] - scores[second][0],
        None if second is None else json.loads(second),
        at_edge=_at_edge(json.loads(best), [json.loads(v) for v in by_value]))
  return choices


def _at_edge(chosen: dict, points: list[dict]) -> bool:
  if len(chosen) != 1 or len(points) < 3:
    return False
  (field, value), = chosen.items()
  values = [p[field] for p in points]
  if not all(isinstance(v, int | float) for v in values):
    return False
  return value in (min(values), max(values))


def selected_runs(study: Study, tuned_fields: list[str], shared: dict,
                  choices: dict[str, Choice]) -> dict[str, list[Run]]:
  """{'shared': runs at the shared value, 'tuned': runs at each arm's
  chosen value}, finished runs only."""
  out = {SHARED: [], TUNED: []}
  for r in study.finished:
    point = tuned_point(r, tuned_fields)
    if point == shared:
      out[SHARED].append(r)
    choice = choices.get(r.arm)
    if choice is not None and choice.value == point:
      out[TUNED].append(r)
  return out


def arm_rows(study: Study, tuned_fields: list[str], shared: dict,
             choices: dict[str, Choice], target: float = 0.95) -> list[dict]:
  """Per arm, at the shared value and at its chosen value: test accuracy,
  the inference-mode train/test gap and the steps to `target` training
  accuracy."""
  picked = selected_runs(study, tuned_fields, shared, choices)
  rows = []
  for arm, choice in choices.items():
    row = {'arm': arm, 'chosen': choice.value, 'why_not': choice.why_not,
           'at_edge': choice.at_edge,
           'margin': None if choice.margin is None else 100 * choice.margin,
           'runner_up': choice.runner_up,
           'chosen_validation': (100 * choice.validation[_key(choice.value)]
                                 if choice.value is not None else math.nan)}
    for regime in (SHARED, TUNED):
      ms = [measures.measure(r, target) for r in picked[regime] if r.arm == arm]
      s = stats.summarize([100 * m.test_acc for m in ms])
      row.update({f'{regime}_mean': s.mean, f'{regime}_std': s.std,
                  f'{regime}_ci_low': s.ci_low, f'{regime}_ci_high': s.ci_high,
                  f'{regime}_n': s.n})
      gap = stats.summarize([None if m.inference_gap is None else 100 * m.inference_gap for m in ms])
      steps = [m.steps_to_target for m in ms if m.steps_to_target is not None]
      row.update({f'{regime}_gap': gap.mean, f'{regime}_reached': len(steps),
                  f'{regime}_steps': float(np.mean(steps)) if steps else math.nan,
                  f'{regime}_at_chance': measures.at_chance_count(ms),
                  f'{regime}_diverged': _diverged_at(study, arm, tuned_fields,
                                                     shared if regime == SHARED
                                                     else choice.value)})
    rows.append(row)
  return rows


def _diverged_at(study: Study, arm: str, tuned_fields: list[str], point) -> int:
  """The arm's runs at `point` of the tuned fields whose loss diverged."""
  return sum(measures.diverged(r) for r in study.runs
             if r.arm == arm and point is not None
             and tuned_point(r, tuned_fields) == point)


# What the paired comparisons compare: test accuracy (pp), the
# inference-mode train/test gap (pp), the steps to the target training
# accuracy (pairs where both reached it).
METRICS = {
    'test acc': lambda m: 100 * m.test_acc,
    'gap, inference': lambda m: None if m.inference_gap is None else 100 * m.inference_gap,
    'steps to target': lambda m: m.steps_to_target,
}


def paired_rows(study: Study, arm_fields: list[str], tuned_fields: list[str],
                shared: dict, choices: dict[str, Choice], metric: str = 'test acc',
                target: float = 0.95) -> list[dict]:
  """Both regimes' paired comparisons of every factor (see the top)."""
  value_of = METRICS[metric]
  picked = selected_runs(study, tuned_fields, shared, choices)
  keys = naming.short_keys(arm_fields)
  rows = []
  for regime in (SHARED, TUNED):
    start = len(rows)
    for f in arm_fields:
      by_value: dict[str, dict] = {}
      for r in picked[regime]:
        rest = _key({**{g: r.overrides[g] for g in arm_fields if g != f},
                     'seed': r.seed})
        by_value.setdefault(_key(r.overrides[f]), {})[rest] = value_of(
            measures.measure(r, target))
      for a, b in itertools.combinations(by_value, 2):
        matched = [m for m in by_value[a] if m in by_value[b]
                   and by_value[a][m] is not None and by_value[b][m] is not None]
        if not matched:
          continue
        diff, p = stats.paired_difference([by_value[a][m] for m in matched],
                                          [by_value[b][m] for m in matched])
        rows.append({'regime': regime, 'metric': metric, 'field': keys[f], 'a': json.loads(a),
                     'b': json.loads(b), 'pairs': len(matched),
                     'diff_mean': diff.mean, 'diff_ci_low': diff.ci_low,
                     'diff_ci_high': diff.ci_high, 'p': p,
                     'detectable': stats.detectable_difference(diff.std, diff.n)})
    adjusted = stats.holm([r['p'] for r in rows[start:]])
    for row, p in zip(rows[start:], adjusted):
      row['p_holm'] = p
  return rows


def choices_json(choices: dict[str, Choice], shared: dict) -> dict:
  """STUDY/tuning.json: what each arm chose and by how much."""
  return {'shared': shared, 'chosen_on': 'validation accuracy, mean over seeds',
          'arms': {arm: {'chosen': c.value, 'runner_up': c.runner_up,
                         'margin_validation_accuracy': c.margin,
                         'mean_validation_accuracy': {
                             v: acc for v, acc in c.validation.items()},
                         'not_chosen_because': c.why_not or None,
                         'at_edge_of_grid': c.at_edge}
                   for arm, c in choices.items()}}
