"""README's `tensorboard --logdir RUN` works with what setup installs: a real
short training run, then TensorBoard from the environment (.venv/bin/
tensorboard) on loopback at a free port, and every scalar of metrics.jsonl
read back over its HTTP API (/data/plugin/scalars/...) at the same steps."""
import collections
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from tests.conftest import run_module

pytestmark = pytest.mark.slow
# Beside the interpreter running the tests: .venv/bin/tensorboard, as README says.
TENSORBOARD = os.path.join(os.path.dirname(sys.executable), 'tensorboard')


def _get(base: str, path: str, **query):
  url = f'{base}{path}?{urllib.parse.urlencode(query)}' if query else base + path
  with urllib.request.urlopen(url, timeout=10) as reply:
    return json.load(reply)


def _scalars_in_metrics(run) -> dict[str, list[tuple[int, float]]]:
  """{'split/field': [(step, value), ...]} as metrics.jsonl holds them."""
  out = collections.defaultdict(list)
  with open(run / 'metrics.jsonl') as f:
    for record in map(json.loads, f):
      for key, value in record.items():
        if key not in ('split', 'step', 'time') and isinstance(value, (int, float)):
          out[f"{record['split']}/{key}"].append((record['step'], value))
  return out


def test_tensorboard_serves_a_training_runs_scalars(data_dir, tmp_path):
  run = tmp_path / 'run'
  trained = run_module(
      'experiments.train', '--config=configs/mlp.py:digits', f'--workdir={run}',
      f'--config.data.data_dir={data_dir}', '--config.train.num_epochs=0',
      '--config.train.num_steps=60', '--config.train.log_every_steps=20',
      '--config.model.width=32')
  assert trained.returncode == 0, trained.stderr[-3000:]
  expected = _scalars_in_metrics(run)
  assert {'train/loss', 'validation/accuracy', 'test/accuracy'} <= set(expected)

  server = subprocess.Popen(
      [TENSORBOARD, '--logdir', str(run), '--host', '127.0.0.1', '--port', '0'],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  try:
    said = ''
    deadline = time.monotonic() + 120
    while not (found := re.search(r'TensorBoard \S+ at (http://127\.0\.0\.1:\d+)/', said)):
      line = server.stdout.readline()
      assert line and time.monotonic() < deadline, f'tensorboard did not start:\n{said}'
      said += line
    base = found.group(1)
    # It loads the event files in the background: wait for every tag.
    while set(tags := _get(base, '/data/plugin/scalars/tags').get('tensorboard', {})) \
        < set(expected):
      assert time.monotonic() < deadline, (sorted(tags), sorted(expected))
      time.sleep(0.5)
    for tag, points in expected.items():
      served = _get(base, '/data/plugin/scalars/scalars', run='tensorboard', tag=tag)
      assert [step for _, step, _ in served] == [step for step, _ in points], tag
      assert [value for _, _, value in served] == pytest.approx(
          [value for _, value in points], rel=1e-6), tag
  finally:
    server.terminate()
    server.wait(timeout=30)
