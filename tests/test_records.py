"""A run's records stay right across restarts, and bad values never start one.

(issue: never lose progress, never report a wrong result.)
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest
from absl import flags

from configs import cnn
from lib import checkpointing, errors, metrics_writer, multi_seed, preemption, run_lock, trainer
from tests.conftest import ROOT, pythonpath


def _config(data_dir, **train):
  c = cnn.get_config('digits')
  c.data.data_dir = data_dir
  c.model.features, c.model.convs_per_block, c.model.dense = (8, 16), 1, (32,)
  c.train.num_epochs, c.train.num_steps = 0.0, 6
  c.train.log_every_steps, c.train.checkpoint_every_steps = 3, 3
  c.train.eval_every_epochs = 0.1  # 11 steps an epoch: an evaluation each step.
  c.train.update(train)
  return c


@pytest.mark.parametrize('section, field, value, message', [
    ('train', 'batch_size', 0, 'train.batch_size must be >= 1'),
    ('optimizer', 'learning_rate', -0.1, 'optimizer.learning_rate must be >= 0'),
    ('train', 'keep_checkpoints', 0, 'train.keep_checkpoints must be >= 1'),
    ('train', 'checkpoint_every_steps', -1, 'train.checkpoint_every_steps must be >= 0'),
    ('train', 'checkpoint_every_minutes', -1.0, 'train.checkpoint_every_minutes must be >= 0'),
    ('train', 'log_every_steps', 0, 'train.log_every_steps must be >= 1'),
    ('model', 'dropout', 1.0, 'model.dropout must be in [0, 1)'),
    ('model', 'dropout', -0.5, 'model.dropout must be in [0, 1)'),
])
def test_a_bad_value_is_one_error_before_anything_is_written(
    data_dir, tmp_path, section, field, value, message):
  config = _config(data_dir)
  config[section][field] = value
  with pytest.raises(errors.UserError, match=f'^{message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")}'):
    trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_an_empty_workdir_is_refused(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.train',
       f'--config={ROOT}/configs/cnn.py:digits', '--workdir='],
      cwd=str(tmp_path), env={**os.environ, 'PYTHONPATH': pythonpath(ROOT),
                              'JAX_PLATFORMS': 'cpu'},
      capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      'error: --workdir is empty; name the run directory, e.g. --workdir=runs/my_run']
  assert not os.listdir(tmp_path)


def test_best_accuracy_counts_the_evaluations_before_a_resume(data_dir, tmp_path):
  workdir = str(tmp_path / 'run')
  trainer.train_and_evaluate(_config(data_dir), workdir)
  # As if killed after the step-3 checkpoint, and as if the step-2 evaluation
  # had been the best one: the resumed run must still count it.
  os.remove(os.path.join(workdir, trainer.RESULTS_FILE))
  subprocess.run(['rm', '-rf', os.path.join(workdir, 'checkpoints', '6')], check=True)
  path = os.path.join(workdir, metrics_writer.METRICS_FILE)
  records = metrics_writer.read(workdir)
  for r in records:
    if r['split'] == 'validation' and r['step'] == 2:
      r['accuracy'] = 1.0
  with open(path, 'w') as f:
    f.writelines(json.dumps(r) + '\n' for r in records)
  results = trainer.train_and_evaluate(_config(data_dir), workdir)
  assert results['best_accuracy'] == 1.0 and results['best_step'] == 2
  evals = [r['step'] for r in metrics_writer.read(workdir) if r['split'] == 'validation']
  assert evals == [1, 2, 3, 4, 5, 6]  # Each step once.


def _snapshot(directory):
  out = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        out[path] = (os.stat(path).st_mtime_ns, hashlib.sha256(f.read()).hexdigest())
  return out


def test_a_finished_run_started_again_changes_nothing(data_dir, tmp_path):
  workdir = str(tmp_path / 'run')
  first = trainer.train_and_evaluate(_config(data_dir), workdir)
  before = _snapshot(workdir)
  assert trainer.train_and_evaluate(_config(data_dir), workdir) == first
  assert _snapshot(workdir) == before


def test_metrics_drop_what_a_restart_repeats_and_a_torn_last_line(tmp_path):
  path = tmp_path / metrics_writer.METRICS_FILE
  lines = [json.dumps({'split': 'train', 'step': s, 'loss': 1.0}) for s in range(1, 6)]
  path.write_text('\n'.join(lines) + '\n{"split": "train", "st')  # Torn.
  assert [r['step'] for r in metrics_writer.read(str(tmp_path))] == [1, 2, 3, 4, 5]
  metrics_writer.MetricWriter(str(tmp_path), resumed_at_step=3).close()
  assert [r['step'] for r in metrics_writer.read(str(tmp_path))] == [1, 2, 3]
  metrics_writer.MetricWriter(str(tmp_path), resumed_at_step=0).close()
  assert metrics_writer.read(str(tmp_path)) == []  # A fresh start: all repeated.
  path.write_text(lines[0] + '\nnot json\n' + lines[1] + '\n')
  with pytest.raises(errors.UserError, match='line 2 is not JSON'):
    metrics_writer.read(str(tmp_path))


def _tensorboard_scalars(workdir) -> list[tuple[str, int]]:
  """(tag, step) of every scalar in the run's event files, read by
  TensorBoard's own loader where it is installed (else through
  tensorboardX's protobuf, as lib/metrics_writer does)."""
  tb_dir = os.path.join(workdir, metrics_writer.TENSORBOARD_DIR)
  try:
    from tensorboard.backend.event_processing import event_file_loader
  except ImportError:
    events = metrics_writer.events(tb_dir)
  else:
    events = (e for name in sorted(os.listdir(tb_dir)) if 'tfevents' in name
              for e in event_file_loader.LegacyEventFileLoader(
                  os.path.join(tb_dir, name)).Load())
  return [(v.tag, e.step) for e in events if e.HasField('summary')
          for v in e.summary.value]


def _each_step_once(workdir, total):
  logged = [(r['split'], r['step']) for r in metrics_writer.read(workdir)]
  assert len(logged) == len(set(logged)), logged
  assert logged.count(('test', total)) == 1
  scalars = _tensorboard_scalars(workdir)
  assert len(scalars) == len(set(scalars)), sorted(scalars)
  # The same records in both: TensorBoard has each logged split's metrics.
  assert {(t.split('/')[0], s) for t, s in scalars} == set(logged)
  return logged


def test_a_run_killed_after_its_last_checkpoint_logs_its_test_once(data_dir, tmp_path):
  """kill -9 between the final checkpoint and results.json: started again,
  the run resumes at its last step and evaluates the test split again."""
  workdir = str(tmp_path / 'run')
  trainer.train_and_evaluate(_config(data_dir), workdir)
  os.remove(os.path.join(workdir, trainer.RESULTS_FILE))  # Where the kill came.
  first = _each_step_once(workdir, 6)
  assert trainer.train_and_evaluate(_config(data_dir), workdir)['steps'] == 6
  assert _each_step_once(workdir, 6) == first


def test_a_start_without_a_checkpoint_says_so_and_replaces_the_records(
    data_dir, tmp_path, capsys):
  """kill -9 before the first checkpoint committed: metrics, no checkpoint."""
  workdir = str(tmp_path / 'run')
  trainer.train_and_evaluate(_config(data_dir), workdir)
  first = _each_step_once(workdir, 6)
  shutil.rmtree(os.path.join(workdir, 'checkpoints'))
  os.remove(os.path.join(workdir, trainer.RESULTS_FILE))
  capsys.readouterr()
  trainer.train_and_evaluate(_config(data_dir), workdir)
  assert (f'{workdir}: no checkpoint: starting from step 0 (replacing the '
          'records of an earlier session, up to step 6)') in capsys.readouterr().out
  assert _each_step_once(workdir, 6) == first


@pytest.mark.parametrize('min_seconds, saved', [
    (0.0, list(range(2, 21, 2))),  # Every tenth.
    (None, [20]),  # The default: this run's tenths come within MIN_SECONDS.
])
def test_a_run_checkpoints_every_tenth_by_default(data_dir, tmp_path, monkeypatch,
                                                  min_seconds, saved):
  from lib import checkpoint_schedule  # pylint: disable=g-import-not-at-top
  if min_seconds is not None:
    monkeypatch.setattr(checkpoint_schedule, 'MIN_SECONDS', min_seconds)
  workdir = tmp_path / 'run'
  trainer.train_and_evaluate(_config(data_dir, num_steps=20, checkpoint_every_steps=0,
                                     keep_checkpoints=20), str(workdir))
  assert sorted(int(d) for d in os.listdir(workdir / 'checkpoints')) == saved


def test_event_files_keep_what_was_written_before_the_checkpoint(tmp_path):
  writer = metrics_writer.MetricWriter(str(tmp_path), resumed_at_step=0)
  for step in (3, 6):
    writer.write('train', step, {'loss': 1.0})
    writer.write('validation', step, {'accuracy': 0.5})
  writer.write('test', 6, {'accuracy': 0.5})  # Written before step 6's checkpoint.
  writer.close()
  # A torn record at the end, as a kill mid-write leaves it.
  tb_dir = tmp_path / metrics_writer.TENSORBOARD_DIR
  (event_file,) = tb_dir.iterdir()
  with open(event_file, 'ab') as f:
    f.write(b'\x20\x00\x00')
  metrics_writer.MetricWriter(str(tmp_path), resumed_at_step=6).close()
  assert sorted(_tensorboard_scalars(str(tmp_path))) == [
      ('test/accuracy', 6), ('train/loss', 3), ('train/loss', 6),
      ('validation/accuracy', 3), ('validation/accuracy', 6)]
  metrics_writer.MetricWriter(str(tmp_path), resumed_at_step=3).close()
  assert sorted(_tensorboard_scalars(str(tmp_path))) == [
      ('train/loss', 3), ('validation/accuracy', 3)]
  assert not any('tmp' in p.name for p in tmp_path.iterdir())


def test_diverged_seeds_of_a_group_stay_failed_when_retried(data_dir, tmp_path):
  configs = []
  for seed in (0, 1):
    c = _config(data_dir)
    c.seed, c.optimizer.learning_rate = seed, 1e12
    configs.append(c)
  dirs = [str(tmp_path / f'seed={s}') for s in (0, 1)]
  for attempt in range(2):  # The retry must not report them finished.
    results = multi_seed.train_and_evaluate(configs, dirs, str(tmp_path))
    assert all(isinstance(r, errors.Diverged) for r in results), (attempt, results)
    assert not any(os.path.exists(os.path.join(d, trainer.RESULTS_FILE)) for d in dirs)


def test_sigterm_before_the_first_step_stops_there_with_a_checkpoint(data_dir, tmp_path):
  workdir = str(tmp_path / 'run')
  preemption.install()
  os.kill(os.getpid(), signal.SIGTERM)  # As if it came during start-up.
  try:
    assert trainer.train_and_evaluate(_config(data_dir), workdir) == {
        'preempted_at_step': 1, 'signal': 'SIGTERM'}
  finally:
    preemption.clear()
  assert os.path.isdir(os.path.join(workdir, 'checkpoints', '1'))
  assert trainer.train_and_evaluate(_config(data_dir), workdir)['steps'] == 6


def test_a_second_run_on_a_workdir_in_use_is_refused(data_dir, tmp_path):
  workdir = str(tmp_path / 'run')
  holder = subprocess.Popen(
      [sys.executable, '-c', 'import sys, time; from lib import run_lock; '
       f'run_lock.RunLock({workdir!r}); print("locked", flush=True); time.sleep(60)'],
      cwd=ROOT, stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'locked'
    with pytest.raises(errors.UserError, match=f'in use by pid {holder.pid} on '):
      trainer.train_and_evaluate(_config(data_dir), workdir)
  finally:
    holder.kill()  # kill -9: the operating system releases the lock.
    holder.wait()
  run_lock.RunLock(workdir).release()


@pytest.mark.parametrize('change, message', [
    ({'optimizer.name': 'sgd'}, 'the optimizer state opt_state'),
    ({'optimizer.name': 'adamw', 'optimizer.weight_decay': 1e-4},
     'the optimizer state opt_state'),
    ({'data.pipeline': 'grain'}, 'saved without grain iterator state'),
    ({'model.dense': (48,)}, "the parameter params['dense0']['dense']['bias'] is (32,)"),
])
def test_a_checkpoint_that_does_not_fit_is_an_error_and_nothing_is_moved(
    data_dir, tmp_path, change, message):
  """Resuming with another optimizer, weight decay, pipeline or model is the
  config's misfit, not a damaged checkpoint: refused, every checkpoint kept."""
  workdir = tmp_path / 'run'
  config = _config(data_dir, num_steps=3)
  trainer.train_and_evaluate(config, str(workdir))
  before = sorted(os.listdir(workdir / 'checkpoints'))
  config = _config(data_dir, num_steps=6)
  for dotted, value in change.items():
    section, field = dotted.split('.')
    config[section][field] = value
  with pytest.raises(errors.UserError, match='was trained with another config'):
    trainer.train_and_evaluate(config, str(workdir))  # Refused first for the config.
  with pytest.raises(errors.UserError, match='does not fit this config') as e:
    trainer.train_and_evaluate(config, str(workdir), allow_config_change=True)
  assert message in str(e.value)
  assert sorted(os.listdir(workdir / 'checkpoints')) == before
  assert not (workdir / 'unreadable_checkpoints').exists()


def test_a_writer_that_only_adds_keeps_the_metrics(tmp_path):
  """Visualization opens a writer for its TensorBoard images: the run's
  metrics must survive it."""
  line = json.dumps({'split': 'train', 'step': 5, 'loss': 1.0})
  (tmp_path / metrics_writer.METRICS_FILE).write_text(line + '\n')
  metrics_writer.MetricWriter(str(tmp_path)).close()
  assert [r['step'] for r in metrics_writer.read(str(tmp_path))] == [5]


def test_a_second_unreadable_copy_of_a_step_is_set_aside_beside_the_first(
    data_dir, tmp_path):
  """The quarantine never crash-loops on a name it already used."""
  workdir = tmp_path / 'run'
  trainer.train_and_evaluate(_config(data_dir), str(workdir))
  os.remove(workdir / trainer.RESULTS_FILE)
  earlier = workdir / 'unreadable_checkpoints' / '6'  # Set aside before.
  earlier.mkdir(parents=True)
  (earlier / 'commit_success.txt').write_text('an earlier copy')
  for root, _, files in os.walk(workdir / 'checkpoints' / '6' / 'state'):
    for name in files:
      if name not in ('commit_success.txt', '_CHECKPOINT_METADATA'):
        path = os.path.join(root, name)
        with open(path, 'r+b') as f:
          f.truncate(os.path.getsize(path) // 3)
  results = trainer.train_and_evaluate(_config(data_dir), str(workdir))
  assert results['steps'] == 6
  assert sorted(os.listdir(workdir / 'unreadable_checkpoints')) == ['6', '6.2']


def test_a_run_made_by_an_earlier_version_is_refused_naming_its_commit(data_dir, tmp_path):
  """Its config.json has a field today's configs lack (data.eval_split was
  renamed data.test_split): no compatibility code resumes it; the line names
  the commit that made it, even with --allow_config_change; nothing moved."""
  workdir = tmp_path / 'run'
  trainer.train_and_evaluate(_config(data_dir), str(workdir))
  os.remove(workdir / trainer.RESULTS_FILE)  # As if killed after step 6's checkpoint.
  subprocess.run(['rm', '-rf', str(workdir / 'checkpoints' / '6')], check=True)
  saved = json.loads((workdir / 'config.json').read_text())
  saved['data']['eval_split'] = saved['data'].pop('test_split')
  (workdir / 'config.json').write_text(json.dumps(saved))
  history = json.loads((workdir / 'provenance.json').read_text())
  history[-1]['git'] = {'commit': '6c2ef06' + '0' * 33, 'dirty': False}
  (workdir / 'provenance.json').write_text(json.dumps(history))
  before = _snapshot(workdir)
  for allow in (False, True):
    with pytest.raises(errors.UserError) as e:
      trainer.train_and_evaluate(_config(data_dir), str(workdir),
                                 allow_config_change=allow)
    assert str(e.value) == (
        f'{workdir} was made by 6c2ef0600000, whose configs have other fields '
        '(data.eval_split, data.test_split); resume it with that commit (git checkout '
        '6c2ef0600000) or start again with another --workdir')
  lock = str(workdir / run_lock.LOCK_FILE)
  assert {k: v for k, v in _snapshot(workdir).items() if k != lock} == {
      k: v for k, v in before.items() if k != lock}


def test_a_resume_with_another_config_is_refused_unless_asked_for(data_dir, tmp_path):
  """Another learning rate (or anything that changes training) would splice
  two runs into one: refused, nothing moved; continuing on purpose is
  recorded in config.json. Logging and checkpoint cadence may change."""
  workdir = tmp_path / 'run'
  trainer.train_and_evaluate(_config(data_dir), str(workdir))
  os.remove(workdir / trainer.RESULTS_FILE)  # As if killed after step 6's checkpoint...
  subprocess.run(['rm', '-rf', str(workdir / 'checkpoints' / '6')], check=True)
  before = _snapshot(workdir)  # ... and resumed from step 3.
  changed = _config(data_dir)
  changed.optimizer.learning_rate = 0.01
  changed.seed = 4
  with pytest.raises(errors.UserError) as e:
    trainer.train_and_evaluate(changed, str(workdir))
  assert str(e.value) == (
      f'{workdir} was trained with another config (optimizer.learning_rate '
      '0.002 -> 0.01, seed 0 -> 4); resuming would mix two runs: use a new '
      '--workdir, or pass --allow_config_change to continue with the new values '
      'on purpose (config.json then records the change)')
  after = _snapshot(workdir)
  lock = str(workdir / run_lock.LOCK_FILE)  # Holds who trained last: rewritten.
  assert {k: v for k, v in after.items() if k != lock} == {
      k: v for k, v in before.items() if k != lock}  # Nothing moved or rewritten.

  results = trainer.train_and_evaluate(changed, str(workdir), allow_config_change=True)
  assert results['steps'] == 6
  saved = json.loads((workdir / 'config.json').read_text())
  assert saved['optimizer']['learning_rate'] == 0.01
  [change] = saved['config_changes']
  assert change['step'] == 3
  assert change['changed'] == {'optimizer.learning_rate': [0.002, 0.01], 'seed': [0, 4]}

  # A finished run asked for with other values is not that run, even on purpose.
  for allow in (False, True):
    with pytest.raises(errors.UserError, match=r'finished with another config '
                       r'\(optimizer.learning_rate 0.01 -> 0.002, seed 4 -> 0\)'):
      trainer.train_and_evaluate(_config(data_dir), str(workdir), allow_config_change=allow)


def test_a_resume_may_change_how_the_run_is_logged_and_checkpointed(data_dir, tmp_path):
  workdir = tmp_path / 'run'
  trainer.train_and_evaluate(_config(data_dir, num_steps=3), str(workdir))
  os.remove(workdir / trainer.RESULTS_FILE)
  config = _config(data_dir, num_steps=3, log_every_steps=1, keep_checkpoints=5)
  subprocess.run(['rm', '-rf', str(workdir / 'checkpoints' / '3')], check=True)
  assert trainer.train_and_evaluate(config, str(workdir))['steps'] == 3
  assert 'config_changes' not in json.loads((workdir / 'config.json').read_text())


def _flip_byte(path, offset):
  with open(path, 'r+b') as f:
    f.seek(offset)
    byte = f.read(1)[0]
    f.seek(offset)
    f.write(bytes([byte ^ 0x10]))


def _flip_a_byte_orbax_reads_silently(checkpoints, step):
  """Flips one byte of the largest array file where Orbax alone reads the
  change without a word (where the flip breaks zstd's framing Orbax does
  notice; that is the easy case)."""
  saved = checkpointing.load_state(str(checkpoints), step)
  files = [os.path.join(root, name)
           for root, _, names in os.walk(checkpoints / str(step) / 'state') for name in names]
  path = max(files, key=os.path.getsize)
  for fraction in (0.5, 0.6, 0.4, 0.7, 0.3, 0.8, 0.2, 0.9):
    offset = int(os.path.getsize(path) * fraction)
    _flip_byte(path, offset)
    try:
      silently = checkpointing.load_state(str(checkpoints), step, verify_checksums=False)
    except Exception:  # pylint: disable=broad-except
      silently = None
    if silently is not None and any(np.any(np.asarray(a) != np.asarray(b)) for a, b in zip(
        jax.tree.leaves(saved), jax.tree.leaves(silently))):
      return
    _flip_byte(path, offset)  # Undo; try another place.
  pytest.fail('no byte found that Orbax reads silently')


def test_a_flipped_byte_in_a_checkpoint_is_caught_and_the_run_goes_on_from_the_last_good_one(
    data_dir, tmp_path):
  workdir = tmp_path / 'run'
  trainer.train_and_evaluate(_config(data_dir), str(workdir))
  os.remove(workdir / trainer.RESULTS_FILE)
  _flip_a_byte_orbax_reads_silently(workdir / 'checkpoints', 6)  # Why checksums exist.
  with pytest.raises(checkpointing.ChecksumMismatch):
    checkpointing.load_state(str(workdir / 'checkpoints'), 6)  # As analysis reads it.

  results = trainer.train_and_evaluate(_config(data_dir), str(workdir))
  assert results['steps'] == 6
  assert os.listdir(workdir / 'unreadable_checkpoints') == ['6']
  unbroken = tmp_path / 'unbroken'
  trainer.train_and_evaluate(_config(data_dir), str(unbroken))
  for a, b in zip(jax.tree.leaves(checkpointing.load_state(str(workdir / 'checkpoints'))),
                  jax.tree.leaves(checkpointing.load_state(str(unbroken / 'checkpoints')))):
    np.testing.assert_array_equal(a, b)


def test_writing_metrics_never_imports_pytorch(tmp_path):
  """tensorboardX imports torch when it can (seconds of start-up for a run
  that never uses it); a stand-in torch on the path shows whether it was."""
  fake = tmp_path / 'path' / 'torch'
  fake.mkdir(parents=True)
  marker = tmp_path / 'torch_was_imported'
  (fake / '__init__.py').write_text(f'open({str(marker)!r}, "w").close()\n')
  code = ('from lib import metrics_writer; '
          f'metrics_writer.MetricWriter({str(tmp_path / "run")!r}).close()')
  subprocess.run([sys.executable, '-c', code], cwd=ROOT, check=True, timeout=120,
                 env={**os.environ, 'PYTHONPATH': pythonpath(str(tmp_path / 'path'), ROOT)})
  assert (tmp_path / 'run' / 'tensorboard').is_dir()
  assert not marker.exists()


def test_a_grain_run_resumed_with_other_workers_goes_on_exactly(data_dir, tmp_path):
  """The grain iterator resumes at the checkpoint's step whatever the
  worker count (lib/data/pipeline.py TrainBatches): the same batches, the
  same parameters, bitwise."""
  workdir = tmp_path / 'run'
  config = _config(data_dir)
  config.data.pipeline = 'grain'
  trainer.train_and_evaluate(config, str(workdir))
  unbroken = checkpointing.load_state(str(workdir / 'checkpoints'))['params']
  os.remove(workdir / trainer.RESULTS_FILE)
  subprocess.run(['rm', '-rf', str(workdir / 'checkpoints' / '6')], check=True)
  config.data.worker_count = 1
  flags.FLAGS.mark_as_parsed()  # grain's worker processes read absl flags.
  trainer.train_and_evaluate(config, str(workdir))
  resumed = checkpointing.load_state(str(workdir / 'checkpoints'))['params']
  jax.tree.map(np.testing.assert_array_equal, resumed, unbroken)


def test_the_learning_rate_and_the_model_size_are_logged(data_dir, tmp_path, capsys):
  """Each train record holds the rate its step's update applied (optax's
  schedule at the update count, computed here on its own), in metrics.jsonl,
  TensorBoard and the console; the run starts by naming its parameter count
  and forward FLOPs."""
  import flax  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  from lib import flops, models, train_step  # pylint: disable=g-import-not-at-top
  config = _config(data_dir, num_steps=9, log_every_steps=1)
  config.optimizer.warmup_epochs = 0.0
  workdir = str(tmp_path / 'run')
  trainer.train_and_evaluate(config, workdir)
  rate = optax.cosine_decay_schedule(config.optimizer.learning_rate, 9)
  logged = {r['step']: r['learning_rate'] for r in metrics_writer.read(workdir)
            if r['split'] == 'train'}
  assert sorted(logged) == list(range(1, 10))
  for step, value in logged.items():
    np.testing.assert_allclose(value, rate(step - 1), rtol=1e-6)
  assert ('train/learning_rate', 9) in _tensorboard_scalars(workdir)
  out = capsys.readouterr().out
  assert f'| lr {logged[9]:.3g} |' in out
  model = models.build(config.model, train_step.num_outputs(10))
  variables = model.init(jax.random.PRNGKey(0), np.zeros((1, 8, 8, 1), np.float32))
  params = flax.core.unfreeze(variables)['params']
  line = next(l for l in out.splitlines() if l.startswith('model cnn: '))
  assert f'{flops.num_params(params):,} parameters' in line
  assert 'FLOPs per example (forward)' in line


def test_the_start_line_counts_a_linear_models_flops(data_dir):
  """Logistic regression on 8x8 digits: 64 x 10 multiply-adds (2 FLOPs each)
  and 10 bias additions, 650 parameters."""
  from configs import logreg  # pylint: disable=g-import-not-at-top
  config = logreg.get_config('digits')
  config.data.data_dir = data_dir
  assert trainer.model_line(trainer.Run(config)) == (
      'model logistic_regression: 650 parameters, 1.29 kFLOPs per example (forward)')
