"""Start-up: no entry point imports what a plain training run does not use
(scikit-learn alone cost ~3 s of every run), and the start-up bench's probe
sees every phase of real runs of each entry point."""
import json
import os
import subprocess
import sys

import pytest

from experiments.bench import startup_phases as startup, startup_probe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What each entry point imports up front or inside main() on the way to the
# first step of a run, a seeds study and a sweep task (one entry per process:
# each defines its own flags).
LIBRARY = ['lib.trainer', 'lib.multi_seed', 'lib.sweeps.runner', 'lib.sweeps.study',
           'lib.data.pipeline', 'lib.data.catalog', 'lib.data.holdout',
           'lib.data.digits', 'lib.data.mnist_5k', 'lib.checkpointing',
           'lib.metrics_writer', 'lib.accelerator', 'lib.compile_cache',
           'lib.xla_cpu', 'lib.provenance']


@pytest.mark.parametrize('entry', ['experiments.train', 'experiments.seeds',
                                   'experiments.sweep'])
def test_training_imports_nothing_it_does_not_use(entry, data_dir):
  # Imports, then the data a run reads: the hold-out and the embedded
  # dataset's builder used to import scikit-learn only when called.
  code = f"""
import sys
import {", ".join([entry, *LIBRARY])}
from configs import cnn
from lib.data import catalog, digits, mnist_5k, pipeline
c = cnn.get_config('digits').data
c.data_dir = {data_dir!r}
data = pipeline.Data(c, 128, 0)
assert len(data.split_arrays('validation')['label']) == 144
digits.load(), catalog.builder('digits', {data_dir!r})
print(sorted(m for m in {startup_probe.NOT_NEEDED!r} if m in sys.modules))
"""
  proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                        text=True)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip() == '[]', proc.stdout


def _probe(tmp_path, *args: str) -> dict:
  record = tmp_path / 'record.json'
  proc = subprocess.run([sys.executable, '-m', 'experiments.bench.startup_probe',
                         str(record), *args], cwd=ROOT, capture_output=True,
                        text=True)  # The session's compilation cache (conftest).
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(record) as f:
    return json.load(f)


@pytest.mark.slow
@pytest.mark.parametrize('args', [
    ['experiments.train', '--config=configs/cnn.py:digits,runlocal', '--workdir={out}'],
    ['experiments.seeds', '--config=configs/cnn.py:digits,runlocal', '--seeds=2',
     '--out={out}'],
    ['experiments.sweep', '--sweep=configs/sweeps/ablation.py:digits,grid', '--seeds=1',
     '--set=train.num_steps=20', f'--task_index={startup.GRID_CELL_TASK}',
     '--study_dir={out}'],
], ids=['train', 'seeds', 'sweep'])
def test_real_runs_of_each_entry_point_load_nothing_unneeded(tmp_path, args):
  record = _probe(tmp_path, *(a.format(out=tmp_path / 'out') for a in args))
  assert record['not_needed_loaded'] == []
  times = startup.phases(dict(record, wall=record['events']['exit']))
  # Every phase was seen, in order, and they add up to the first step.
  assert all(times[name] >= 0 for name, _ in startup.PHASES), times
  assert times['to first step'] == pytest.approx(
      sum(times[name] for name, _ in startup.PHASES))
  assert 0 < times['imports'] < times['to first step']
  assert times['first step'] > 0 and times['trace'] > 0 and times['lower'] > 0
  assert record['counts']['train_loop'] >= 1
