"""Every run records where it came from, and again on every resume."""
import os
import shutil
import subprocess

from configs import cnn
from lib import provenance, trainer
from lib.report import document, runs as runs_lib
from tests.conftest import ROOT


def _config(data_dir):
  c = cnn.get_config('digits')
  c.data.data_dir = data_dir
  c.model.features, c.model.convs_per_block, c.model.dense = (8, 16), 1, (32,)
  c.train.num_epochs, c.train.num_steps = 0.0, 6
  c.train.log_every_steps, c.train.checkpoint_every_steps = 3, 3
  return c


def test_a_run_records_its_code_machine_and_switches_and_appends_on_resume(
    data_dir, tmp_path):
  workdir = str(tmp_path / 'run')
  trainer.train_and_evaluate(_config(data_dir), workdir)
  [first] = provenance.read(workdir)
  git = lambda *a: subprocess.run(['git', '-C', ROOT, *a], capture_output=True,
                                  text=True, check=True).stdout
  assert first['git']['commit'] == git('rev-parse', 'HEAD').strip()
  assert first['git']['dirty'] == bool(git('status', '--porcelain').strip())
  assert (first['git']['diff_sha256'] is None) == (not first['git']['dirty'])
  assert first['start_step'] == 0
  assert first['packages']['jax'] and first['packages']['flax']
  assert set(provenance.PACKAGES) <= set(first['packages'])
  assert first['backend'] == 'cpu' and sum(first['devices'].values()) == first['device_count']
  assert first['process_count'] == 1 and len(first['hosts']) == 1
  assert first['switches']['fast_cpu_gradients'] == 'auto'
  assert first['switches']['gradient_rewrites']  # 'auto' on CPU: all of them.
  assert 'xla_flags' in first and first['command']

  # As if killed after the step-3 checkpoint: the resume appends a record.
  shutil.rmtree(os.path.join(workdir, 'checkpoints', '6'))
  os.remove(os.path.join(workdir, trainer.RESULTS_FILE))
  trainer.train_and_evaluate(_config(data_dir), workdir)
  history = provenance.read(workdir)
  assert [h['start_step'] for h in history] == [0, 3]
  assert history[0] == first  # The first record is kept as it was.


def test_the_code_is_read_once_per_process(monkeypatch):
  """A process runs the code it imported: a commit made while a study runs
  is not the code of its later runs."""
  calls = []
  monkeypatch.setattr(provenance, '_git', lambda *a: calls.append(a) or 'abc\n')
  provenance.git_state.cache_clear()
  try:
    first = provenance.git_state()
    monkeypatch.setattr(provenance, '_git', lambda *a: calls.append(a) or 'def\n')
    assert provenance.git_state() == first and first['commit'] == 'abc'
    assert len(calls) == 3  # rev-parse, status, diff: once.
  finally:
    provenance.git_state.cache_clear()


def _study(commits_per_run):
  runs = [runs_lib.Run(f'r{i}', 'g', i, {}, 'finished', commits=c)
          for i, c in enumerate(commits_per_run)]
  return runs_lib.Study('s', [], runs)


def test_the_report_names_the_commits_and_warns_when_they_differ():
  same = document.code_lines(_study([['abc123'], ['abc123']]))
  assert same == ['Code: `abc123` (2 runs).']
  mixed = document.code_lines(_study([['abc123'], ['abc123', 'def456']]))
  assert mixed[0] == 'Code: `abc123` (2 runs), `def456` (1 run).'
  assert 'different code' in mixed[1]
  dirty = document.code_lines(_study([['abc123+dirty']]))
  assert 'uncommitted' in dirty[1]
  assert document.code_lines(_study([[]]))[0].startswith('Code: `unknown')
