"""The study report: statistics, tables, plots and classical baselines."""
import csv
import dataclasses
import itertools
import json
import math
import os

import numpy as np
import pytest
from matplotlib import image

from configs import common
from lib import errors
from lib.report import baselines, document, stats
from lib.report import runs as runs_lib
from lib.sweeps import layout
from tests.conftest import run_module

FIELDS = ['model.activation', 'model.pooling', 'model.dropout']


def test_interval_is_the_bootstrap_of_the_mean_and_stays_within_accuracy():
  x = [0.90, 0.92, 0.95, 0.91, 0.93]
  s = stats.summarize(x)
  sd = np.std(x, ddof=1)
  assert (s.n, s.mean, s.std) == (5, pytest.approx(0.922), pytest.approx(sd))
  # The resampled means' BCa interval, computed here the long way: percentiles
  # of 9,999 means of resamples, bias- and skew-corrected (Efron 1987).
  rng = np.random.default_rng(0)
  means = np.asarray(x)[rng.integers(0, 5, (9999, 5))].mean(axis=1)
  assert s.ci_low < 0.922 < s.ci_high
  assert (s.ci_low, s.ci_high) == (
      pytest.approx(np.percentile(means, 2.5), abs=0.004),
      pytest.approx(np.percentile(means, 97.5), abs=0.004))
  # The case: 2 of 5 seeds collapsed to chance. A t-interval went
  # outside [0, 100]; this one stays within the values seen.
  collapsed = stats.summarize([97.1, 96.5, 10.0, 11.3, 97.8])
  t_low = 62.54 - 2.776 * collapsed.std / math.sqrt(5)
  assert t_low < 10 and 10.0 <= collapsed.ci_low < collapsed.ci_high <= 97.8
  assert stats.summarize([97.1, 96.5, 10.0, 11.3, 97.8]) == collapsed  # Reproducible.
  assert math.isnan(stats.summarize([0.5]).ci_low)
  assert stats.summarize([0.5, 0.5]).half_width == 0
  assert stats.summarize([None, 1.0, 3.0]).n == 2  # Missing values are skipped.


def test_steps_to_target_is_the_first_logged_step_at_or_above():
  assert stats.steps_to_target({10: 0.5, 20: 0.96, 30: 0.94, 40: 0.99}, 0.95) == 20
  assert stats.steps_to_target({10: 0.5}, 0.95) is None


def test_paired_difference():
  diff, p = stats.paired_difference([2.0, 3.0, 4.5], [1.0, 1.5, 3.0])
  assert diff.mean == pytest.approx(4 / 3) and 0 < p < 0.05


def _fake_study(root) -> str:
  """A finished-looking study without training: 2x2x2 configs x 3 seeds,
  one run failed and one never ran."""
  runs = []
  for act, pool, drop, seed in itertools.product(['relu', 'tanh'], ['max', 'mean'],
                                                 [0.0, 0.5], range(3)):
    group = f'activation={act},dropout={drop},pooling={pool}'
    overrides = dict(zip(FIELDS, [act, pool, drop]))
    runs.append({'name': f'{group}/seed={seed}', 'group': group, 'seed': seed,
                 'overrides': overrides})
    if (act, pool, drop, seed) == ('tanh', 'mean', 0.5, 2):
      layout.record_failure(root, runs[-1]['name'], 'RuntimeError: boom', 'tb')
      continue
    if (act, pool, drop, seed) == ('tanh', 'mean', 0.5, 1):
      continue  # Missing.
    speed = 2.0 if act == 'relu' else 1.0
    test_acc = 0.95 + 0.01 * (pool == 'max') - 0.02 * drop + 0.003 * seed
    d = layout.run_dir(root, runs[-1]['name'])
    os.makedirs(d)
    with open(os.path.join(d, 'metrics.jsonl'), 'w') as f:
      for step in range(10, 110, 10):
        train = min(0.999, 0.5 + speed * step / 200) - 0.03 * drop
        f.write(json.dumps({'split': 'train', 'step': step, 'time': 0.0,
                            'loss': 1 - train, 'accuracy': train}) + '\n')
        f.write(json.dumps({'split': 'test', 'step': step, 'time': 0.0, 'loss': 0.1,
                            'accuracy': test_acc * step / 100}) + '\n')
    layout.write_json(os.path.join(d, 'results.json'), {
        'chosen_on': 'test', 'test_accuracy': test_acc, 'best_accuracy': test_acc,
        'best_step': 100, 'test_split': 'test', 'test_loss': 0.1,
        'train_seconds_this_session': 6.0, 'seeds_in_program': 3})
    layout.write_json(os.path.join(d, 'config.json'), {'data': {'name': 'digits'}})
  layout.write_json(os.path.join(root, layout.PLAN_FILE), {
      'sweep': 'fake.py', 'config': 'configs/cnn.py:digits', 'fields': FIELDS + ['seed'],
      'fixed': {}, 'runs': runs, 'tasks': []})
  return root


def test_report_tables_plots_and_missing_runs(tmp_path):
  root = _fake_study(str(tmp_path))
  out = document.build(root, target=0.95, with_baselines='no')
  md = out['markdown']
  assert '`activation=tanh,dropout=0.5,pooling=mean/seed=2`: **failed**: RuntimeError: boom' in md
  assert '`activation=tanh,dropout=0.5,pooling=mean/seed=1`: missing' in md
  assert '24 runs planned: 22 finished, 1 failed, 1 missing.' in md
  with open(out['paths']['csv']) as f:
    rows = {r['config']: r for r in csv.DictReader(f)}
  relu = rows['activation=relu,dropout=0.0,pooling=max']
  assert float(relu['test_acc_mean']) == pytest.approx(96.3)   # Seeds 0, 1, 2.
  assert float(relu['wall_s_mean']) == pytest.approx(2.0)      # 6 s shared by 3.
  # relu reaches 95% training accuracy at step 50, tanh at step 90.
  assert float(relu['steps_to_train_target_mean']) == 50
  assert float(rows['activation=tanh,dropout=0.0,pooling=max']['steps_to_train_target_mean']) == 90
  # Every column names its split; these runs had no validation data, so
  # their best periodic evaluation was on the test split (and says so).
  assert float(relu['best_test_acc_mean']) == pytest.approx(96.3)
  assert {'train_test_gap_mean', 'train_test_gap_inference_mean'} <= set(relu)
  assert ('| config | runs | test acc % (mean ± std) | 95% CI (bootstrap), test acc | '
          'best test acc % (during training) | train−test gap (pp) |') in md
  assert '**on the test split itself**' in md
  assert rows['activation=tanh,dropout=0.5,pooling=mean']['finished'] == '1'
  assert '| pooling | max − mean | 10 | 1.00 |' in md  # Paired over 10 matched runs.
  names = sorted(os.path.basename(p) for p in out['paths']['plots'])
  assert names == ['accuracy_vs_dropout.png', 'learning_curves_activation.png',
                   'pooling_max_vs_mean.png', 'training_loss_per_arm.png']
  for p in out['paths']['plots']:
    with open(p, 'rb') as f:
      assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert image.imread(p).shape[0] > 100


def test_seeds_at_chance_and_diverged_are_said_beside_the_mean(tmp_path):
  """An arm where 2 of 5 seeds collapsed to chance gets an interval within
  the accuracies seen and says so; a diverged seed is counted, not averaged."""
  root = str(tmp_path / 'study')
  runs = []
  accuracies = {'relu': [0.97, 0.10, 0.96, 0.11, 0.98], 'tanh': [0.95, 0.96, 0.94, 0.95, None]}
  for act, accs in accuracies.items():
    for seed, acc in enumerate(accs):
      name = f'activation={act}/seed={seed}'
      runs.append({'name': name, 'group': f'activation={act}', 'seed': seed,
                   'overrides': {'model.activation': act}})
      if acc is None:
        layout.record_failure(root, name, 'Diverged: the loss became nan at step 40; '
                              'lower the learning rate or check the data', 'tb')
        continue
      d = layout.run_dir(root, name)
      os.makedirs(d)
      with open(os.path.join(d, 'metrics.jsonl'), 'w') as f:
        f.write(json.dumps({'split': 'train', 'step': 10, 'time': 0.0, 'loss': 1.0,
                            'accuracy': acc}) + '\n')
      layout.write_json(os.path.join(d, 'results.json'), {
          'chosen_on': 'test', 'test_accuracy': acc, 'best_accuracy': acc, 'best_step': 10,
          'test_split': 'test', 'test_loss': 0.1, 'num_classes': 10,
          'train_seconds_this_session': 1.0, 'seeds_in_program': 1})
  layout.write_json(os.path.join(root, layout.PLAN_FILE), {
      'sweep': 'fake.py', 'config': 'configs/cnn.py:digits',
      'fields': ['model.activation', 'seed'], 'fixed': {}, 'runs': runs, 'tasks': []})
  out = document.build(root, target=0.95, with_baselines='no')
  with open(out['paths']['csv']) as f:
    rows = {r['config']: r for r in csv.DictReader(f)}
  relu, tanh = rows['activation=relu'], rows['activation=tanh']
  assert 10.0 <= float(relu['test_acc_ci_low']) < float(relu['test_acc_ci_high']) <= 98.0
  assert (relu['at_chance'], tanh['at_chance'], tanh['diverged']) == ('2', '0', '1')
  md = out['markdown']
  assert '| activation=relu | 5/5 | 62.40 ± 47.38 (2/5 at chance) |' in md
  assert '| activation=tanh | 4/5 | 95.00 ± 0.82 (1 diverged) |' in md


def _digits_data(data_dir, **fields) -> dict:
  """A study's data config as config.json saves it: every field, today's defaults."""
  data = common.base_config('digits').data.to_dict()
  data.update(data_dir=data_dir, **fields)
  return data


def test_baselines_on_the_prepared_digits_splits(data_dir):
  data = _digits_data(data_dir, validation_fraction=0.0)
  (x_train, _), (x_test, _), _ = baselines.load_splits(data, 128)
  assert x_train.shape == (1437, 64) and x_test.shape == (360, 64)
  rows = {r['config']: r for r in baselines.evaluate(data, 128)}
  assert rows['baseline: RBF SVM']['test_acc_mean'] > 97
  assert rows['baseline: k-NN (k=3)']['test_acc_mean'] > 97
  assert rows['baseline: logistic regression']['test_acc_mean'] > 94
  tree = rows['baseline: decision tree']
  assert 75 < tree['test_acc_mean'] < 92 and tree['test_acc_n'] == baselines.SEEDS


def test_baselines_do_not_move_with_the_blas_thread_count(data_dir):
  # lbfgs's logistic regression on the held-out digits split gave 96.39%
  # with 2 BLAS threads and 96.11% with 1 before the fits were pinned.
  from threadpoolctl import threadpool_limits  # pylint: disable=g-import-not-at-top
  data = _digits_data(data_dir, validation_fraction=0.1)
  results = []
  for threads in (1, 2):
    with threadpool_limits(limits=threads):
      results.append({r['config']: r['test_acc_mean'] for r in baselines.evaluate(data, 128)})
  assert results[0] == results[1]


def test_report_cli_on_a_directory_that_is_not_a_study(tmp_path):
  with pytest.raises(errors.UserError, match='not a study directory'):
    document.build(str(tmp_path))
  result = run_module('experiments.report', f'--study_dir={tmp_path}')
  assert result.returncode == 2 and result.stderr.startswith('error: ')
  assert len(result.stderr.strip().splitlines()) == 1


def _figure(monkeypatch, draw, *args):
  """The matplotlib figure a plot function draws (instead of its file)."""
  from lib.report import plots  # pylint: disable=g-import-not-at-top
  drawn = []
  monkeypatch.setattr(plots, '_save', lambda fig, path: drawn.append(fig) or path)
  assert draw(*args) is not None
  return drawn[0]


def _tuned_study(arms: int = 18):
  """18 arms (activation x pooling x dropout) x 3 learning rates x 2 seeds."""
  runs = []
  points = list(itertools.product(['sigmoid', 'tanh', 'relu'], ['max', 'mean'],
                                  [0.0, 0.25, 0.5]))[:arms]
  for (act, pool, drop), rate, seed in itertools.product(points, [1e-3, 1e-2, 1e-1], [0, 1]):
    arm = f'activation={act},dropout={drop},pooling={pool}'
    acc = 0.80 + 0.05 * (act == 'relu') + 0.02 * (pool == 'max') + 0.01 * seed
    runs.append(runs_lib.Run(
        f'{arm},learning_rate={rate}/seed={seed}', f'{arm},learning_rate={rate}', seed,
        dict(zip(FIELDS + ['optimizer.learning_rate'], [act, pool, drop, rate])),
        'finished', arm=arm,
        results={'chosen_on': 'validation', 'validation_accuracy': acc,
                 'test_accuracy': acc, 'best_eval_accuracy': acc},
        config={'model': {'dropout': drop}, 'data': {'random_shift': 0, 'augment': 'none'}}))
  return runs_lib.Study('s', FIELDS + ['optimizer.learning_rate'], runs,
                        ['optimizer.learning_rate'], {'optimizer.learning_rate': 1e-3})


def test_tuning_curves_of_18_arms_are_small_multiples_with_distinct_lines(monkeypatch):
  from lib.report import plots  # pylint: disable=g-import-not-at-top
  study = _tuned_study()
  fig = _figure(monkeypatch, plots.tuning_curves, study, 'x.png')
  titles = [ax.get_title() for ax in fig.axes]
  assert titles == ['activation=sigmoid', 'activation=tanh', 'activation=relu']
  for ax in fig.axes:  # 6 arms a panel, each its own colour and line style.
    styles = [(line.get_color(), line.get_linestyle()) for line in ax.lines
              if len(line.get_xdata()) == 3]
    assert len(styles) == 6 and len(set(styles)) == 6
  # All 18 arms on one axis would still be 18 distinct pairs.
  assert len({(s['color'], s['ls']) for s in map(plots._style, range(18))}) == 18  # pylint: disable=protected-access
  low = fig.axes[0].get_ylim()[0]  # Zoomed on 80-90%: the label says so.
  assert 70 < low < 81
  assert fig.axes[0].get_ylabel().endswith(f'(axis starts at {low:.3g}%, not 0)')
  few = _figure(monkeypatch, plots.tuning_curves, _tuned_study(arms=3), 'x.png')
  assert len(few.axes) == 1


def test_plot_titles_and_axes_follow_the_runs(monkeypatch):
  from lib.report import plots  # pylint: disable=g-import-not-at-top
  study = _tuned_study()
  undropped = dataclasses.replace(
      study, fields=['model.activation'], tuned_fields=[],
      runs=[r for r in study.runs if r.overrides['model.dropout'] == 0.0])
  for r in undropped.runs:
    r.metrics = [{'split': s, 'step': 10, 'accuracy': 0.9} for s in ('train', 'validation')]
  fig = _figure(monkeypatch, plots.learning_curves, undropped, 'x.png')
  assert fig.axes[0].get_title() == ('training accuracy, train mode '
                                     '(no dropout, no augmentation)')
  # One pooling axis and nothing else: no 'all' tick; the zoomed axis says so.
  pooled = dataclasses.replace(study, fields=['model.pooling'], tuned_fields=[],
                               runs=[r for r in undropped.runs
                                     if r.overrides['model.activation'] == 'relu'])
  fig = _figure(monkeypatch, plots.pooling_bars, pooled, 'x.png')
  ax = fig.axes[0]
  assert [t.get_text() for t in ax.get_xticklabels()] == []
  assert ax.get_xlabel().startswith('pooling (every run of the study')
  assert ax.get_ylim()[0] == 80 and '(axis starts at 80%, not 0)' in ax.get_ylabel()
  # A shrunk study says so in every figure's title.
  quick = dataclasses.replace(pooled, command_line={'seeds': 2})
  fig = _figure(monkeypatch, plots.pooling_bars, quick, 'x.png')
  assert 'quick version (--seeds=2), not the study as declared' in fig._suptitle.get_text()  # pylint: disable=protected-access


def test_runs_made_before_the_split_names_were_settled_stay_readable(tmp_path):
  """Up to commit 6c2ef06, results.json said eval_accuracy and
  best_eval_accuracy, and metrics.jsonl 'eval' and 'train_eval'."""
  old = {'eval_accuracy': 0.9, 'eval_loss': 0.3, 'best_eval_accuracy': 0.92,
         'best_eval_step': 40, 'eval_split': 'test', 'chosen_on': 'test'}
  metrics = [{'split': 'eval', 'step': 40, 'accuracy': 0.92},
             {'split': 'train_eval', 'step': 50, 'loss': 0.1, 'accuracy': 0.99}]
  results, renamed = runs_lib._in_current_names(old, metrics)
  assert (results['test_accuracy'], results['best_accuracy'], results['best_step'],
          results['test_split'], results['train_inference_accuracy']) == (
              0.9, 0.92, 40, 'test', 0.99)
  assert renamed == [{'split': 'test', 'step': 40, 'accuracy': 0.92}]
