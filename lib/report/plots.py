"""The study's figures (PNG), each with 95% confidence bands over runs:
training loss per arm, learning curves per activation, accuracy vs dropout
rate, max vs mean pooling, and a tuned study's validation accuracy over the
tuned values.

A figure is drawn only when its field is swept; other swept fields are
averaged over (the title says so). Titles describe the runs' own settings
(dropout, augmentation) and say when the study was shrunk with --seeds/--set;
an accuracy axis that does not start at 0 says where it starts; many lines
get distinct colour and line-style pairs, and over 10 arms are split into
small multiples.
"""
import json
import os

import matplotlib
import matplotlib.lines  # pylint: disable=g-import-not-at-top
import matplotlib.ticker  # pylint: disable=g-import-not-at-top
matplotlib.use('Agg')  # Files only; no display on servers and in CI.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

from lib.report import measures, stats  # pylint: disable=wrong-import-position
from lib.report.measures import measure  # pylint: disable=wrong-import-position
from lib.report.runs import Study  # pylint: disable=wrong-import-position
from lib.sweeps import shrink  # pylint: disable=wrong-import-position

# Colour and line style together: 10 colours x 4 styles before a repeat.
LINE_STYLES = ('-', '--', ':', '-.')
MARKERS = ('o', 's', '^', 'D', 'v', 'P', 'X', '*')
MAX_LINES_PER_PANEL = 10


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


def _style(i: int) -> dict:
  """The i-th line's colour, line style and marker: distinct for 40 lines."""
  return dict(color=f'C{i % 10}', ls=LINE_STYLES[(i // 10) % len(LINE_STYLES)],
              marker=MARKERS[i % len(MARKERS)])


def _suptitle(fig, study: Study, text: str) -> None:
  """The figure's title, plus a warning line for a study shrunk with
  --seeds/--set (lib/sweeps/shrink.py)."""
  if study.command_line:
    text += (f'\nquick version ({shrink.flags_text(study.command_line)}), '
             'not the study as declared')
  fig.suptitle(text, color='black')


def _note_axis_start(ax, unit: str = '%') -> None:
  """An accuracy axis that starts above 0 says so: a break mark on the axis
  and, in its label, where it starts."""
  low = ax.get_ylim()[0]
  if low <= 10:  # Near 0 anyway: start there, nothing to explain.
    ax.set_ylim(bottom=min(low, 0))
    return
  if ax.get_ylabel():  # Panels sharing an axis have one label.
    ax.set_ylabel(f'{ax.get_ylabel()}\n(axis starts at {low:.3g}{unit}, not 0)')
  # The usual broken-axis mark: two short slanted strokes across the spine.
  kw = dict(transform=ax.transAxes, color='black', clip_on=False, lw=1)
  for dy in (0.0, 0.025):
    ax.plot((-0.012, 0.012), (0.02 + dy, 0.04 + dy), **kw)


def _training_mode(study: Study) -> str:
  """What the logged training accuracy was measured with: the train mode's
  dropout and augmentation, as the runs were configured."""
  configs = [r.config for r in study.finished if r.config]
  if not configs:
    return 'train mode'
  rates = sorted({c.get('model', {}).get('dropout', 0.0) or 0.0 for c in configs})
  augmented = {bool((c.get('data', {}).get('random_shift') or 0) or
                    c.get('data', {}).get('augment', 'none') not in ('none', '', None))
               for c in configs}
  if rates == [0.0]:
    parts = ['no dropout']
  elif 0.0 in rates:
    parts = ['dropout on where > 0']
  else:
    parts = ['dropout ' + '/'.join(f'{r:g}' for r in rates) + ' on']
  parts.append({frozenset({True}): 'augmented', frozenset({False}): 'no augmentation'}
               .get(frozenset(augmented), 'augmented where set'))
  return ', '.join(parts)


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
  mode = _training_mode(study)
  for ax, split, title in ((axes[0], 'train', f'training accuracy, train mode ({mode})'),
                           (axes[1], None, None)):
    if split is None:  # What was evaluated while training.
      chosen = study.finished[0].results.get('chosen_on', 'test')
      split = chosen
      title = f'{chosen} accuracy'
    for value, runs in _by_value(study.finished, act).items():
      curves = [r.curve(split) for r in runs]
      steps = sorted(set.intersection(*(set(c) for c in curves)))
      summaries = [stats.summarize([100 * c[s] for c in curves]) for s in steps]
      style = _style(len(ax.lines))
      if len(steps) >= 10:
        style['marker'] = None  # Dense curves: markers would hide them.
      _band(ax, steps, summaries, str(value), **style)
    ax.set(title=title, xlabel='step', ylim=(0, 100.5))
    ax.grid(alpha=0.3)
  axes[0].set_ylabel('accuracy (%)')
  axes[1].legend(title='activation')
  _suptitle(fig, study, f'Learning curves per activation (mean over '
            f'{_averaged_over(study, act)}; band: 95% CI)')
  return _save(fig, path)


def training_loss_curves(study: Study, path: str) -> str | None:
  """Training loss (log scale) and the evaluated split's accuracy against
  the step, one line per arm (every swept field but the seed; a tuned
  study's arms at their chosen values), band: 95% over seeds. Claims about
  optimization, e.g. He et al.'s degradation of plain nets, are about the
  training loss. Up to MAX_LINES_PER_PANEL arms (the grids' figures are the
  per-factor ones below)."""
  arms: dict[str, list] = {}
  for r in study.finished:
    arms.setdefault(r.arm or r.group, []).append(r)
  if not arms or len(arms) > MAX_LINES_PER_PANEL:
    return None
  chosen = study.finished[0].results.get('chosen_on', 'test')
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
  for i, (arm, runs) in enumerate(arms.items()):
    for ax, split, key in ((axes[0], 'train', 'loss'), (axes[1], chosen, 'accuracy')):
      curves = [r.curve(split, key) for r in runs]
      steps = sorted(set.intersection(*(set(c) for c in curves)))
      scale = 100 if key == 'accuracy' else 1
      style = _style(i)
      if len(steps) >= 10:
        style['marker'] = None  # Dense curves: markers would hide them.
      _band(ax, steps, [stats.summarize([scale * c[s] for c in curves]) for s in steps],
            arm, **style)
  axes[0].set(title=f'training loss, train mode ({_training_mode(study)})',
              xlabel='step', ylabel='loss (log scale)', yscale='log')
  axes[1].set(title=f'{chosen} accuracy', xlabel='step', ylabel='accuracy (%)')
  for ax in axes:
    ax.grid(alpha=0.3, which='both')
  _note_axis_start(axes[1])
  axes[1].legend(fontsize=8, loc='center left', bbox_to_anchor=(1.0, 0.5))
  _suptitle(fig, study, 'Training loss and accuracy per arm (mean over seeds; '
            'band: 95% bootstrap interval)')
  return _save(fig, path)


def dropout_curve(study: Study, path: str) -> str | None:
  drop, act = _field(study, 'dropout'), _field(study, 'activation')
  if drop is None or not study.finished:
    return None
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  # The inference-mode gap where every run has it: the logged training
  # accuracy is lowered by dropout itself.
  clean = all(measure(r, 1.0).inference_gap is not None for r in study.finished)
  gap_of = (lambda m: m.inference_gap) if clean else (lambda m: m.gap)
  for line_value, runs in _by_value(study.finished, act).items():
    groups = sorted(_by_value(runs, drop).items())
    rates = [rate for rate, _ in groups]
    ms = [[measure(r, 1.0) for r in g] for _, g in groups]
    # One line without an activation axis: no legend needed.
    label = str(line_value) if act else None
    style = _style(len(axes[0].lines))
    _band(axes[0], rates, [stats.summarize([100 * m.test_acc for m in g]) for g in ms],
          label, **style)
    _band(axes[1], rates, [stats.summarize([None if gap_of(m) is None else 100 * gap_of(m)
                                            for m in g]) for g in ms],
          label, **style)
  axes[0].set(title='test accuracy', xlabel='dropout rate', ylabel='test accuracy (%)',
              ylim=(None, 100.5))
  _note_axis_start(axes[0])
  axes[1].set(title='train − test accuracy gap' +
              (' (train split in inference mode)' if clean else ' (logged train acc)'),
              xlabel='dropout rate',
              ylabel='percentage points')
  for ax in axes:
    ax.grid(alpha=0.3)
  axes[1].axhline(0, color='black', linewidth=0.8)
  if act:
    axes[0].legend(title='activation')
  _suptitle(fig, study, f'Accuracy vs dropout (mean over '
            f'{_averaged_over(study, drop, act)}; band: 95% CI)')
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
    err = np.nan_to_num(np.array([s.half_width for s in summaries]))
    lows += list(mean - err)  # The whole interval stays in view.
    ax.bar(np.arange(len(by_act)) + i * width, mean, width, yerr=err, capsize=4,
           label=str(kind))
  if act:
    ax.set_xticks(np.arange(len(by_act)) + width * (len(kinds) - 1) / 2,
                  [str(a) for a in by_act])
    ax.set_xlabel('activation')
  else:  # One group of bars: the pooling legend says what each bar is.
    ax.set_xticks([])
    ax.set_xlabel(f'pooling (every run of the study: {len(study.finished)} runs)')
  ax.set(ylabel='test accuracy (%)')
  _suptitle(fig, study, f'Max vs mean pooling (mean over '
            f'{_averaged_over(study, pool, act)}; bars: 95% CI)')
  # Zoomed to the bars' range, in steps of 10; the axis says where it starts.
  ax.set_ylim(max(0, 10 * np.floor((np.nanmin(lows) - 5) / 10)), 100)
  _note_axis_start(ax)
  ax.legend(title='pooling')
  ax.grid(alpha=0.3, axis='y')
  return _save(fig, path)


def _save(fig, path: str) -> str:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.tight_layout()
  fig.savefig(path, dpi=110, bbox_inches='tight')  # Legends outside the axes.
  plt.close(fig)
  return path


def _panels(study: Study, arms: dict[str, list]) -> tuple[str | None, dict]:
  """Over MAX_LINES_PER_PANEL arms: one panel per value of the first arm
  field that varies ({value: {arm: runs}}); else one panel (field None)."""
  fields = [f for f in study.arm_fields
            if len({json.dumps(runs[0].overrides[f]) for runs in arms.values()}) > 1]
  if len(arms) <= MAX_LINES_PER_PANEL or not fields:
    return None, {None: arms}
  field, panels = fields[0], {}
  for arm, runs in arms.items():
    panels.setdefault(json.dumps(runs[0].overrides[field]), {})[arm] = runs
  return field, {json.loads(k): v for k, v in panels.items()}


def _without(arm: str, field: str | None) -> str:
  """The arm's name less the panel's field (its title says it)."""
  if field is None:
    return arm
  short = field.rsplit('.', 1)[-1]
  return ','.join(p for p in arm.split(',') if not p.startswith(short + '=')) or arm


def tuning_curves(study: Study, path: str, chosen: dict | None = None) -> str | None:
  """Mean validation accuracy against the tuned value, one line per arm
  (a single numeric tuned field only); `chosen` ({arm: value}) is marked.
  Over 10 arms, one panel per value of the first arm field."""
  if len(study.tuned_fields) != 1 or not study.finished:
    return None
  field = study.tuned_fields[0]
  arms: dict[str, list] = {}
  for r in study.finished:
    if r.results.get('chosen_on') == 'validation':
      arms.setdefault(r.arm, []).append(r)
  if not arms:
    return None
  panel_field, panels = _panels(study, arms)
  # One style per label (the arm less the panel's field), the same in
  # every panel, so that one legend serves them all.
  labels = list(dict.fromkeys(_without(a, panel_field) for a in arms))
  fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels) + 3, 5),
                           sharey=True, squeeze=False)
  shared = study.shared.get(field)
  values = sorted({r.overrides[field] for runs in arms.values() for r in runs})
  for ax, (panel, panel_arms) in zip(axes[0], panels.items()):
    for arm, runs in panel_arms.items():
      by_value = _by_value(runs, field)
      xs = sorted(by_value)
      mean = [np.mean([100 * r.results['validation_accuracy'] for r in by_value[x]])
              for x in xs]
      label = _without(arm, panel_field)
      line, = ax.plot(xs, mean, ms=4, lw=1.2, label=label,
                      **_style(labels.index(label)))
      if (chosen or {}).get(arm) in xs:  # lib/report/tuning.py's choice.
        best = xs.index(chosen[arm])
        ax.plot(xs[best], mean[best], '*', ms=13, color=line.get_color(),
                markeredgecolor='black', markeredgewidth=0.6)
    ax.set_xscale('log')
    # Ticks at the tuned values only (log axes label 2x10^-3 and crowd).
    ax.set_xticks(values, [f'{v:g}' for v in values], rotation=30)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if shared:
      ax.axvline(shared, color='gray', ls='--', lw=1)
    ax.set(xlabel=field)
    if panel_field is not None:
      ax.set_title(f'{panel_field.rsplit(".", 1)[-1]}={panel}')
    ax.grid(alpha=0.3)
  handles = [matplotlib.lines.Line2D([], [], ms=4, lw=1.2, label=label, **_style(i))
             for i, label in enumerate(labels)]
  handles += [matplotlib.lines.Line2D([], [], color='gray', ls='--', lw=1,
                                      label=f'shared value ({shared:g})')] if shared else []
  handles += [matplotlib.lines.Line2D([], [], ls='', marker='*', ms=11, color='white',
                                      markeredgecolor='black', label='chosen on validation')]
  fig.legend(handles=handles, fontsize=8, loc='center left', bbox_to_anchor=(1.0, 0.5))
  axes[0][0].set_ylabel('validation accuracy (%), mean over seeds')
  for ax in axes[0]:
    _note_axis_start(ax)  # The first one's label says where.
  _suptitle(fig, study, 'Each arm over the tuned values (star: the value chosen '
            'on validation)')
  return _save(fig, path)


def draw_all(study: Study, plot_dir: str, tuning_study: Study | None = None,
             chosen: dict | None = None) -> list[str]:
  """The plots of `study`; `tuning_study` (all runs of a tuned study, while
  `study` holds those at each arm's chosen value, `chosen`) adds the tuning
  curves."""
  made = [tuning_curves(tuning_study, os.path.join(plot_dir, 'tuning_curves.png'), chosen)
          if tuning_study else None,
          training_loss_curves(study, os.path.join(plot_dir, 'training_loss_per_arm.png')),
          learning_curves(study, os.path.join(plot_dir, 'learning_curves_activation.png')),
          dropout_curve(study, os.path.join(plot_dir, 'accuracy_vs_dropout.png')),
          pooling_bars(study, os.path.join(plot_dir, 'pooling_max_vs_mean.png'))]
  return [p for p in made if p]
