"""The study's tables: one row per config (over seeds), marginal effects of
each swept field, and paired comparisons between a field's values.

Rows are plain dicts of numbers (accuracies in percent), written as CSV and
rendered as Markdown.
"""
import csv
import itertools
import json
import math

from lib.report import measures, stats
from lib.report.measures import measure
from lib.report.runs import Study
from lib.sweeps import naming


def _key(value) -> str:
  return json.dumps(value, sort_keys=True)


def summaries(prefix: str, values, scale: float = 1.0) -> dict:
  s = stats.summarize([None if v is None else v * scale for v in values])
  return {f'{prefix}_mean': s.mean, f'{prefix}_std': s.std,
          f'{prefix}_ci_low': s.ci_low, f'{prefix}_ci_high': s.ci_high,
          f'{prefix}_n': s.n}


def best_key(split: str) -> str:
  """The column of the best periodic evaluation, named by its split."""
  return f'best_{split}_acc'


def best_split(study: Study) -> str:
  """Where the runs' periodic evaluations (and so *best*) were: validation
  data, or the test split for runs that had none."""
  first = study.finished[0].results if study.finished else {}
  return 'validation' if first.get('chosen_on') == 'validation' else 'test'


def aggregate(runs, target: float, best: str | None = None) -> dict:
  """Mean, std and 95% CI over `runs` (finished ones) of every measure;
  `best`: the split of the best periodic evaluation, None to leave it out.
  Every column names its split."""
  ms = [measure(r, target) for r in runs]
  steps = [m.steps_to_target for m in ms]
  row = {}
  row.update(summaries('test_acc', [m.test_acc for m in ms], 100))
  if best:
    row.update(summaries(best_key(best), [m.best_acc for m in ms], 100))
  row.update(summaries('train_test_gap', [m.gap for m in ms], 100))
  row.update(summaries('train_test_gap_inference', [m.inference_gap for m in ms], 100))
  row.update(summaries('steps_to_train_target', steps))
  row['reached_train_target'] = sum(s is not None for s in steps)
  row.update(summaries('wall_s', [m.wall_s for m in ms]))
  row['at_chance'] = measures.at_chance_count(ms)
  return row


def seeds_note(at_chance: int | None, n: int, diverged: int = 0) -> str:
  """What a mean over seeds hides: ' (2/5 at chance, 1 diverged)', or ''."""
  parts = ([f'{at_chance}/{n} at chance'] if at_chance else []) + (
      [f'{diverged} diverged'] if diverged else [])
  return f" ({', '.join(parts)})" if parts else ''


def config_rows(study: Study, target: float) -> list[dict]:
  keys = naming.short_keys(study.fields)
  groups: dict[str, list] = {}
  for r in study.runs:
    groups.setdefault(r.group, []).append(r)
  rows = []
  for group, runs in groups.items():
    done = [r for r in runs if r.status == 'finished']
    row = {'kind': 'network', 'config': group}
    row.update({keys[f]: runs[0].overrides.get(f) for f in study.fields})
    row.update(planned=len(runs), finished=len(done),
               failed=sum(r.status == 'failed' for r in runs),
               diverged=sum(measures.diverged(r) for r in runs))
    row.update(aggregate(done, target, best_split(study)))
    rows.append(row)
  return rows


def marginal_rows(study: Study, target: float) -> list[dict]:
  """For each swept field and value: all finished runs with that value,
  whatever the other fields (so the CI mixes seeds and settings)."""
  keys = naming.short_keys(study.fields)
  rows = []
  for f in study.fields:
    values = {}
    for r in study.finished:
      values.setdefault(_key(r.overrides[f]), []).append(r)
    for k, runs in values.items():
      row = {'field': keys[f], 'value': json.loads(k), 'runs': len(runs)}
      row.update(aggregate(runs, target))
      rows.append(row)
  return rows


def paired_rows(study: Study, metric: str = 'test_acc', target: float = 0.95) -> list[dict]:
  """Value a vs value b of each field over runs matched on every other field
  and the seed: mean difference, its 95% CI and the paired t-test p-value."""
  keys = naming.short_keys(study.fields)
  rows = []
  for f in study.fields:
    by_value: dict[str, dict] = {}
    for r in study.finished:
      rest = _key({**{g: r.overrides[g] for g in study.fields if g != f}, 'seed': r.seed})
      by_value.setdefault(_key(r.overrides[f]), {})[rest] = getattr(measure(r, target), metric)
    for a, b in itertools.combinations(by_value, 2):
      matched = [m for m in by_value[a] if m in by_value[b]
                 and by_value[a][m] is not None and by_value[b][m] is not None]
      if not matched:
        continue
      diff, p = stats.paired_difference([100 * by_value[a][m] for m in matched],
                                        [100 * by_value[b][m] for m in matched])
      rows.append({'field': keys[f], 'a': json.loads(a), 'b': json.loads(b),
                   'pairs': len(matched), 'diff_mean': diff.mean,
                   'diff_ci_low': diff.ci_low, 'diff_ci_high': diff.ci_high, 'p': p,
                   'detectable': stats.detectable_difference(diff.std, diff.n)})
  for row, p in zip(rows, stats.holm([r['p'] for r in rows])):
    row['p_holm'] = p
  return rows


def write_csv(rows: list[dict], path: str) -> None:
  columns = list(dict.fromkeys(k for row in rows for k in row))
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, columns)
    writer.writeheader()
    for row in rows:
      writer.writerow({k: _csv_value(row.get(k)) for k in columns})


def _csv_value(v):
  if isinstance(v, float):
    return '' if math.isnan(v) else f'{v:.6g}'
  if isinstance(v, list | tuple):
    return '-'.join(str(x) for x in v)
  return '' if v is None else v


# --- Markdown --------------------------------------------------------------

def _num(v: float, digits: int = 2) -> str:
  return '–' if v is None or (isinstance(v, float) and math.isnan(v)) else f'{v:.{digits}f}'


def _pm(row: dict, prefix: str, digits: int = 2) -> str:
  if f'{prefix}_mean' not in row:  # Not measured for this row (baselines' best).
    return '–'
  mean, std = row[f'{prefix}_mean'], row[f'{prefix}_std']
  if isinstance(mean, float) and math.isnan(mean):
    return '–'
  return _num(mean, digits) + ('' if math.isnan(std) else f' ± {_num(std, digits)}')


def _ci(row: dict, prefix: str, digits: int = 2) -> str:
  low, high = row[f'{prefix}_ci_low'], row[f'{prefix}_ci_high']
  return '–' if math.isnan(low) else f'[{_num(low, digits)}, {_num(high, digits)}]'


def _steps(row: dict, n_key: str) -> str:
  n = row[n_key]
  k = row['reached_train_target']
  if not k:
    return f'never (0/{n})'
  text = _num(row['steps_to_train_target_mean'], 0)
  return text if k == n else f'{text} ({k}/{n})'


def _table(header: list[str], lines: list[list[str]]) -> str:
  out = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  out += ['| ' + ' | '.join(line) + ' |' for line in lines]
  return '\n'.join(out)


GAP_HEADERS = ['train−test gap (pp)', 'train−test gap, inference mode (pp)']


def config_markdown(rows: list[dict], target: float, best: str = 'validation') -> str:
  """`best`: the split of the runs' periodic evaluations (best_split)."""
  header = ['config', 'runs', 'test acc % (mean ± std)', '95% CI (bootstrap), test acc',
            f'best {best} acc % (during training)', *GAP_HEADERS,
            f'steps to {100 * target:g}% train acc', 'wall s/run']
  lines = []
  for r in rows:
    runs = f"{r['finished']}/{r['planned']}" if r['kind'] == 'network' else str(r['finished'])
    note = seeds_note(r.get('at_chance'), r['test_acc_n'], r.get('diverged', 0))
    lines.append([r['config'], runs, _pm(r, 'test_acc') + note, _ci(r, 'test_acc'),
                  _pm(r, best_key(best)), _pm(r, 'train_test_gap'),
                  _pm(r, 'train_test_gap_inference'),
                  _steps(r, 'test_acc_n') if r['kind'] == 'network' else '–',
                  _num(r['wall_s_mean'], 1)])
  return _table(header, lines)


def marginal_markdown(rows: list[dict], target: float) -> str:
  header = ['field', 'value', 'runs', 'test acc % (mean ± std)',
            '95% CI (bootstrap), test acc', *GAP_HEADERS,
            f'steps to {100 * target:g}% train acc']
  lines = [[r['field'], naming.format_value(r['value']), str(r['runs']),
            _pm(r, 'test_acc') + seeds_note(r.get('at_chance'), r['test_acc_n']),
            _ci(r, 'test_acc'), _pm(r, 'train_test_gap'),
            _pm(r, 'train_test_gap_inference'),
            _steps(r, 'test_acc_n')] for r in rows]
  return _table(header, lines)


def _p(p: float) -> str:
  return '–' if math.isnan(p) else f'{p:.2g}'


def paired_markdown(rows: list[dict], regime_column: bool = False,
                    unit: str = 'pp', what: str = 'test acc') -> str:
  """`what`: the measure compared, named with its split."""
  header = (['learning rate'] if regime_column else []) + [
      'field', 'a − b', 'matched pairs', f'mean diff, {what} ({unit})', '95% CI',
      'p (paired t)', 'p (Holm)', f'detectable ({unit})']
  lines = [([r['regime']] if regime_column else []) + [
      r['field'], f"{naming.format_value(r['a'])} − {naming.format_value(r['b'])}",
      str(r['pairs']), _num(r['diff_mean']),
      '–' if math.isnan(r['diff_ci_low']) else
      f"[{_num(r['diff_ci_low'])}, {_num(r['diff_ci_high'])}]",
      _p(r['p']), _p(r['p_holm']), _num(r['detectable'])] for r in rows]
  return _table(header, lines)


def _reach(row: dict, regime: str) -> str:
  n, k = row[f'{regime}_n'], row[f'{regime}_reached']
  if not n:
    return '–'
  if not k:
    return f'never (0/{n})'
  text = _num(row[f'{regime}_steps'], 0)
  return text if k == n else f'{text} ({k}/{n})'


def _regime_note(row: dict, regime: str) -> str:
  return seeds_note(row.get(f'{regime}_at_chance'), row[f'{regime}_n'],
                    row.get(f'{regime}_diverged', 0))


def tuning_markdown(rows: list[dict], tuned_fields: list[str], target: float) -> str:
  keys = naming.short_keys(tuned_fields)
  show = lambda v: ('–' if v is None else
                    ', '.join(f'{keys[f]}={naming.format_value(x)}' for f, x in v.items()))
  header = ['arm', 'chosen (on validation)', 'its validation acc %',
            'runner-up (on validation)', 'margin, validation acc (pp)',
            'test acc %, shared', '95% CI (bootstrap), test acc', 'test acc %, chosen',
            '95% CI (bootstrap), test acc', 'train−test gap, inference (pp): shared / chosen',
            f'steps to {100 * target:g}% train acc: shared / chosen']
  lines = [[r['arm'], (show(r['chosen']) + (' (edge of the grid)' if r['at_edge'] else ''))
            if r['chosen'] is not None else f"not chosen: {r['why_not']}",
            _num(r['chosen_validation']),
            show(r['runner_up']), _num(r['margin']),
            _pm(r, 'shared') + _regime_note(r, 'shared'), _ci(r, 'shared'),
            _pm(r, 'tuned') + _regime_note(r, 'tuned'), _ci(r, 'tuned'),
            f"{_num(r['shared_gap'])} / {_num(r['tuned_gap'])}",
            f"{_reach(r, 'shared')} / {_reach(r, 'tuned')}"]
           for r in rows]
  return _table(header, lines)
