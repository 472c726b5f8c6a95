"""Writes a study's report: STUDY/report.md, report.csv, plots/*.png."""
import dataclasses
import json
import os

from lib import progress
from lib.data import catalog
from lib.report import baselines, plots, runs as runs_lib, table, tuning
from lib.sweeps import layout, shrink

BASELINE_MAX_TRAIN = 20_000  # 'auto': the RBF SVM is quadratic in examples.


def _problems(study: runs_lib.Study) -> list[str]:
  lines = []
  for r in study.runs:
    if r.status == 'failed':
      lines.append(f'- `{r.name}`: **failed**: {r.error}')
    elif r.status == 'missing':
      lines.append(f'- `{r.name}`: missing (not run, or still running)')
  return lines


def code_lines(study: runs_lib.Study) -> list[str]:
  """Which commits the finished runs came from; a warning where they differ
  or a tree was dirty (lib/provenance.py)."""
  counts: dict[str, int] = {}
  for r in study.finished:
    for c in r.commits or ['unknown (no provenance.json)']:
      counts[c] = counts.get(c, 0) + 1
  if not counts:
    return []
  line = 'Code: ' + ', '.join(f'`{c}` ({n} run{"s" * (n != 1)})'
                              for c, n in counts.items()) + '.'
  lines = [line]
  if len(counts) > 1:
    lines.append('**Warning: the runs came from different code** (or a run '
                 'was resumed on other code); compare them with care.')
  elif any(c.endswith('+dirty') for c in counts):
    lines.append('**Warning: the runs came from a tree with uncommitted '
                 'changes** (its diff hash is in each RUN/provenance.json).')
  return lines


def quick_line(command_line: dict, sweep: str) -> str:
  """The report's warning that --seeds/--set shrank the study."""
  return (f'**A quick version, not the study as declared:** run with '
          f'`{shrink.flags_text(command_line)}` on the command line (recorded in '
          f'`sweep.json`); its numbers are not those of `{os.path.basename(sweep)}` '
          'as shipped.')


def _want_baselines(mode: str, study: runs_lib.Study) -> bool:
  cfg = study.finished[0].config if study.finished else None
  if mode == 'no' or cfg is None:
    return False
  if mode == 'yes':
    return True
  data = cfg['data']
  builder = catalog.builder(data['name'], data['data_dir'])
  return builder.info.splits[data['train_split']].num_examples <= BASELINE_MAX_TRAIN


PAIRED_NOTE = (
    'Test accuracy differences in percentage points, a − b, over runs matched '
    'on every other field and the seed; 95% CI of the mean difference '
    '(Student t, the paired test\'s own); p: two-sided paired t-test; *p (Holm)*: adjusted for all '
    'comparisons of the table (of one learning-rate regime), family-wise; '
    '*detectable*: the smallest true difference these pairs would show at '
    'alpha 0.05 with 80% power, given the spread of their differences.')
TUNED_PAIRED_NOTE = (
    ' *shared*: every arm at the base config\'s value; *tuned*: each arm at '
    'the value it chose on validation data.')


def tuning_note(study: runs_lib.Study) -> str:
  values = sorted({json.dumps(tuning.tuned_point(r, study.tuned_fields))
                   for r in study.runs})
  return (f"Every arm was trained at each of {len(values)} values "
          f"({'; '.join(values)}) with every seed; the shared value is "
          f"`{json.dumps(study.shared)}`. *Chosen*: the value with the best mean "
          'validation accuracy over seeds, among values whose every seed '
          'finished (ties: lower validation loss); the test split is not read '
          'to choose. *Margin*: chosen minus runner-up mean validation '
          'accuracy. Also in `tuning.json`.')


def build(study_dir: str, target: float = 0.95, with_baselines: str = 'auto') -> dict:
  """Writes the report files; returns their paths and the config rows."""
  study = runs_lib.load(study_dir)
  plan = layout.read_plan(study_dir)
  rows = table.config_rows(study, target)
  if _want_baselines(with_baselines, study):
    cfg = study.finished[0].config
    progress.say('fitting the scikit-learn baselines on the same splits ...')
    rows += baselines.evaluate(cfg['data'], cfg['train']['batch_size'])
  tuned = study.tuned_fields
  if tuned:  # Pooled over tuned values, the ordinary comparison means little.
    choices = tuning.choose(study, tuned)
    at_choice = dataclasses.replace(
        study, fields=study.arm_fields, tuned_fields=[],
        runs=tuning.selected_runs(study, tuned, study.shared, choices)[tuning.TUNED])
    arm_rows = tuning.arm_rows(study, tuned, study.shared, choices, target)
    paired = tuning.paired_rows(study, study.arm_fields, tuned, study.shared, choices)
    more_paired = {m: tuning.paired_rows(study, study.arm_fields, tuned, study.shared,
                                         choices, m, target)
                   for m in ('gap, inference', 'steps to target')}
    layout.write_json(os.path.join(study_dir, 'tuning.json'),
                      tuning.choices_json(choices, study.shared))
  else:
    paired = table.paired_rows(study, 'test_acc', target)
  marginals = table.marginal_rows(at_choice if tuned else study, target)
  if tuned:  # The factor plots show each arm at its chosen value.
    if len(tuned) == 1:
      chosen = {a: c.value[tuned[0]] for a, c in choices.items() if c.value is not None}
    else:
      chosen = None
    figures = plots.draw_all(at_choice, os.path.join(study_dir, 'plots'), study, chosen)
  else:
    figures = plots.draw_all(study, os.path.join(study_dir, 'plots'))

  counts = {s: sum(r.status == s for r in study.runs)
            for s in ('finished', 'failed', 'missing')}
  first = study.finished[0].results if study.finished else {}
  test_split = first.get('test_split', 'test')
  best = table.best_split(study)
  name = os.path.basename(os.path.abspath(study_dir))
  md = [f'# Study report: {name}' + (' (a quick version)' if study.command_line else ''),
        '']
  if study.command_line:
    md += [quick_line(study.command_line, plan['sweep']), '']
  md += [f"Sweep `{plan['sweep']}` over base config `{plan['config']}`; fixed: "
        f"`{json.dumps(plan['fixed'])}`.", '',
        f"{len(study.runs)} runs planned: {counts['finished']} finished, "
        f"{counts['failed']} failed, {counts['missing']} missing."]
  if code := code_lines(study):
    md += [''] + code
  problems = _problems(study)
  if problems:
    md += ['', '## Missing or failed runs (left out of the statistics)', ''] + problems
  md += ['', '## Results per config', '', table.config_markdown(rows, target, best), '',
         f'*test acc*: the `{test_split}` split at the last step, in %; '
         '± is the sample standard deviation over seeds, 95% CI the bootstrap '
         'interval of the mean over seeds (lib/report/stats.py: within the '
         'values seen; with few seeds, narrower than a t-interval); *(k/n at '
         'chance)*: runs whose test accuracy ended below 1/classes + 5 pp (at most half '
         'of 1/classes more), '
         '*diverged*: runs whose loss became non-finite (not in the mean). '
         f'*best {best} acc*: the best of the periodic '
         'evaluations during training, '
         + ('on the validation data held out of the training split (not the '
            'test split). ' if best == 'validation' else
            '**on the test split itself** (the runs had no validation data), '
            'so it is selection on the test set and optimistic. ') +
         '*train−test gap*: last logged training accuracy (in train mode: the '
         'run\'s dropout and augmentation on, averaged over the logging interval) minus test accuracy, in '
         'percentage points; *inference mode*: the same with the training '
         'split evaluated like the test split, after training (no dropout, '
         f'no augmentation). *steps to {100 * target:g}%*: first logged '
         'training step at or above it, averaged over the runs that got there '
         '(k/n when not all did). *wall s/run*: training seconds; seeds '
         'trained by one program share its time equally; seeds trained side by '
         'side (CPU, two threads) each count their whole time while sharing the '
         'cores, so compare this column only between runs trained alike. Baselines: '
         'scikit-learn on the same splits (gap = train-set minus test '
         'accuracy; no periodic evaluations, so no best; only the decision '
         'tree is random).']
  if marginals:
    md += ['', '## Each swept field, averaged over the others' +
           (", each arm at its chosen value" if tuned else ''), '',
           table.marginal_markdown(marginals, target)]
  if tuned:
    md += ['', f"## Tuned per arm: {', '.join(tuned)}", '',
           tuning_note(study), '', table.tuning_markdown(arm_rows, tuned, target)]
  if paired:
    md += ['', '## Paired comparisons (matched on the other fields and the seed)',
           '', table.paired_markdown(paired, regime_column=bool(tuned)), '',
           PAIRED_NOTE + (TUNED_PAIRED_NOTE if tuned else '')]
  if tuned:
    for metric, rows_ in more_paired.items():
      if rows_:
        steps = metric == 'steps to target'
        what = (f'steps to {100 * target:g}% training accuracy (pairs where both got there)'
                if steps else 'the inference-mode train−test gap (pp)')
        md += ['', f'### The same comparisons of {what}', '',
               table.paired_markdown(
                   rows_, regime_column=True, unit='steps' if steps else 'pp',
                   what=(f'steps to {100 * target:g}% train acc' if steps
                         else 'train−test gap, inference'))]
  if figures:
    md += ['', '## Plots', ''] + [
        f'![{os.path.basename(p)}](plots/{os.path.basename(p)})' for p in figures]
  paths = {'markdown': os.path.join(study_dir, 'report.md'),
           'csv': os.path.join(study_dir, 'report.csv'),
           'marginals_csv': os.path.join(study_dir, 'report_marginals.csv'),
           'plots': figures}
  with open(paths['markdown'], 'w') as f:
    f.write('\n'.join(md) + '\n')
  table.write_csv(rows, paths['csv'])
  if marginals:
    table.write_csv(marginals, paths['marginals_csv'])
  return {'paths': paths, 'rows': rows, 'markdown': '\n'.join(md)}
