"""The study's figures (PNG), each with 95% confidence bands over runs:
learning curves per activation, accuracy vs dropout rate, max vs mean pooling.

A figure is drawn only when its field is swept; other swept fields are
averaged over (the title says so).
"""
import json
import os

import matplotlib
matplotlib.use('Agg')  # Files only; no display on servers and in CI.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

from lib.report import measures, stats  # pylint: disable=wrong-import-position
from lib.report.measures import measure  # pylint: disable=wrong-import-position
from lib.report.runs import Study  # pylint: disable=wrong-import-position


def _field(study: Study, short: str) -> str | None:
  return next((f for f in study.fields if f.rsplit('.', 1)[-1] == short), None)


def _by_value(runs, field: str | None) -> dict:
  """Runs grouped by their value of `field`, in first-seen order."""
  out: dict = {}
  for r in runs:
    out.setdefault(json.dumps(r.overrides[field]) if field else '""', []).append(r)
  return {json.loads(k): v for k, v in out.items()}


def _averaged_over(study: Study, *shown: str | None) -> str:
  rest = [f.rsplit('.', 1)[-1] for f in study.fields if f not in shown]
  return ' × '.join(rest + ['seeds'])


def _band(ax, x, summaries, label, **style):
  mean = np.array([s.mean for s in summaries])
  low = np.array([s.ci_low for s in summaries])
  high = np.array([s.ci_high for s in summaries])
  line, = ax.plot(x, mean, label=label, **style)
  ax.fill_between(x, np.where(np.isnan(low), mean, low),
                  np.where(np.isnan(high), mean, high),
                  color=line.get_color(), alpha=0.2, linewidth=0)


def learning_curves(study: Study, path: str) -> str | None:
  act = _field(study, 'activation')
  if act is None or not study.finished:
    return None
  fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
  for ax, split, title in ((axes[0], 'train', 'training accuracy (dropout on)'),
                           (axes[1], None, None)):
    if split is None:  # What was evaluated while training.
      chosen = study.finished[0].results.get('chosen_on', 'test')
      split = 'validation' if chosen == 'validation' else 'eval'
      title = f'{chosen} accuracy'
    for value, runs in _by_value(study.finished, act).items():
      curves = [r.curve(split) for r in runs]
      steps = sorted(set.intersection(*(set(c) for c in curves)))
      summaries = [stats.summarize([100 * c[s] for c in curves]) for s in steps]
      _band(ax, steps, summaries, str(value), marker='o' if len(steps) < 10 else None)
    ax.set(title=title, xlabel='step', ylim=(0, 100.5))
    ax.grid(alpha=0.3)
  axes[0].set_ylabel('accuracy (%)')
  axes[1].legend(title='activation')
  fig.suptitle(f'Learning curves per activation (mean over '
               f'{_averaged_over(study, act)}; band: 95% CI)')
  return _save(fig, path)


def dropout_curve(study: Study, path: str) -> str | None:
  drop, act = _field(study, 'dropout'), _field(study, 'activation')
  if drop is None or not study.finished:
    return None
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  # The inference-mode gap where every run has it: the logged training
  # accuracy is lowered by dropout itself.
  clean = all(measure(r, 1.0).eval_gap is not None for r in study.finished)
  gap_of = (lambda m: m.eval_gap) if clean else (lambda m: m.gap)
  for line_value, runs in _by_value(study.finished, act).items():
    groups = sorted(_by_value(runs, drop).items())
    rates = [rate for rate, _ in groups]
    ms = [[measure(r, 1.0) for r in g] for _, g in groups]
    label = str(line_value) if act else 'all'
    _band(axes[0], rates, [stats.summarize([100 * m.test_acc for m in g]) for g in ms],
          label, marker='o')
    _band(axes[1], rates, [stats.summarize([None if gap_of(m) is None else 100 * gap_of(m)
                                            for m in g]) for g in ms],
          label, marker='o')
  axes[0].set(title='test accuracy', xlabel='dropout rate', ylabel='accuracy (%)',
              ylim=(None, 100.5))
  axes[1].set(title='train − test accuracy gap' +
              (' (train split in inference mode)' if clean else ' (logged train acc)'),
              xlabel='dropout rate',
              ylabel='percentage points')
  for ax in axes:
    ax.grid(alpha=0.3)
  axes[1].axhline(0, color='black', linewidth=0.8)
  axes[0].legend(title='activation' if act else None)
  fig.suptitle(f'Accuracy vs dropout (mean over {_averaged_over(study, drop, act)}; '
               f'band: 95% CI)')
  return _save(fig, path)


def pooling_bars(study: Study, path: str) -> str | None:
  pool, act = _field(study, 'pooling'), _field(study, 'activation')
  if pool is None or not study.finished:
    return None
  fig, ax = plt.subplots(figsize=(7, 4))
  by_act = _by_value(study.finished, act)
  kinds = sorted({r.overrides[pool] for r in study.finished})
  width = 0.8 / len(kinds)
  lows = []
  for i, kind in enumerate(kinds):
    summaries = [stats.summarize([100 * measures.test_accuracy(r.results) for r in runs
                                  if r.overrides[pool] == kind])
                 for runs in by_act.values()]
    mean = np.array([s.mean for s in summaries])
    lows += list(mean)
    err = np.nan_to_num(np.array([s.half_width for s in summaries]))
    ax.bar(np.arange(len(by_act)) + i * width, mean, width, yerr=err, capsize=4,
           label=str(kind))
  ax.set_xticks(np.arange(len(by_act)) + width * (len(kinds) - 1) / 2,
                [str(a) if act else 'all' for a in by_act])
  ax.set(ylabel='test accuracy (%)', xlabel='activation' if act else '',
         title=f'Max vs mean pooling (mean over {_averaged_over(study, pool, act)}; '
               f'bars: 95% CI)')
  ax.set_ylim(max(0, np.nanmin(lows) - 15), 100)
  ax.legend(title='pooling')
  ax.grid(alpha=0.3, axis='y')
  return _save(fig, path)


def _save(fig, path: str) -> str:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def tuning_curves(study: Study, path: str, chosen: dict | None = None) -> str | None:
  """Mean validation accuracy against the tuned value, one line per arm
  (a single numeric tuned field only); `chosen` ({arm: value}) is marked."""
  if len(study.tuned_fields) != 1 or not study.finished:
    return None
  field = study.tuned_fields[0]
  fig, ax = plt.subplots(figsize=(12, 5))
  arms: dict[str, list] = {}
  for r in study.finished:
    if r.results.get('chosen_on') == 'validation':
      arms.setdefault(r.arm, []).append(r)
  for arm, runs in arms.items():
    by_value = _by_value(runs, field)
    xs = sorted(by_value)
    mean = [np.mean([100 * r.results['validation_accuracy'] for r in by_value[x]])
            for x in xs]
    line, = ax.plot(xs, mean, marker='o', ms=3, lw=1, label=arm)
    if (chosen or {}).get(arm) in xs:  # lib/report/tuning.py's choice.
      best = xs.index(chosen[arm])
      ax.plot(xs[best], mean[best], '*', ms=10, color=line.get_color())
  ax.set_xscale('log')
  shared = study.shared.get(field)
  if shared:
    ax.axvline(shared, color='gray', ls='--', lw=1, label='shared')
  ax.set(xlabel=field, ylabel='validation accuracy (%), mean over seeds',
         title='Each arm over the tuned values (star: the value chosen)')
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7, loc='center left', bbox_to_anchor=(1.01, 0.5))
  return _save(fig, path)


def draw_all(study: Study, plot_dir: str, tuning_study: Study | None = None,
             chosen: dict | None = None) -> list[str]:
  """The plots of `study`; `tuning_study` (all runs of a tuned study, while
  `study` holds those at each arm's chosen value, `chosen`) adds the tuning
  curves."""
  made = [tuning_curves(tuning_study, os.path.join(plot_dir, 'tuning_curves.png'), chosen)
          if tuning_study else None,
          learning_curves(study, os.path.join(plot_dir, 'learning_curves_activation.png')),
          dropout_curve(study, os.path.join(plot_dir, 'accuracy_vs_dropout.png')),
          pooling_bars(study, os.path.join(plot_dir, 'pooling_max_vs_mean.png'))]
  return [p for p in made if p]
