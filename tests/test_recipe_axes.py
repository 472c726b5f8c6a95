"""The issue-27 knobs as a study and the loop see them: each is a sweep axis,
a bad value stops a run or a study before anything is written, vmapped seeds
equal the same seeds trained one by one, and a run killed with SIGKILL
resumes to the unbroken run's parameters bitwise, with every knob on.

The knobs: model.shortcut='none' (plain ResNets), model.norm,
train.label_smoothing, optimizer.grad_clip_norm and
optimizer.weight_decay_mask. The model of the loop tests is a plain
ResNet-8 of width 4 with BatchNorm (the norm with state to carry).
"""
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from configs import cnn, resnet
from lib import checkpointing, errors, metrics_writer, multi_seed, sweeps, trainer
from lib.sweeps import runner
from tests.conftest import ROOT, run_module

SEEDS = (0, 3)
CLIP = 0.05  # Below every gradient norm these runs see: every step is clipped.
ON = {  # Every knob on, as --config overrides.
    'model.blocks_per_stage': 1, 'model.width': 4,  # ResNet-8, 4/8/16 channels.
    'model.shortcut': 'none', 'model.norm': 'batch',
    'train.label_smoothing': 0.1, 'optimizer.grad_clip_norm': CLIP,
    'optimizer.weight_decay': 5e-4, 'optimizer.weight_decay_mask': 'kernels',
}


def _config(data_dir, seed, steps=6):
  c = resnet.get_config('digits')
  c.seed = seed
  c.data.data_dir = data_dir
  for field, value in ON.items():
    group, name = field.split('.')
    c[group][name] = value
  c.train.num_epochs, c.train.num_steps = 0.0, steps
  c.train.batch_size = 32
  c.train.log_every_steps = 2
  c.train.checkpoint_every_steps = 3
  return c


def _train_metrics(workdir):
  return [m for m in metrics_writer.read(workdir) if m['split'] == 'train']


STUDY = """from lib import sweeps


def get_sweep():
  return sweeps.Sweep(
      config='configs/resnet.py:digits',
      fixed={{'data.data_dir': {data_dir!r}, 'model.width': 4}},
      axes=sweeps.product(sweeps.zip(
          {{'model.norm': ['batch', 'group', 'layer', 'none']}},
          {{'model.shortcut': ['zeros', 'projection', 'none', 'none']}},
          {{'train.label_smoothing': [0.0, 0.1, 0.2, 0.3]}},
          {{'optimizer.grad_clip_norm': [0.0, 1.0, 2.0, 0.5]}},
          {{'optimizer.weight_decay_mask': ['all', 'kernels', 'all', 'kernels']}}),
          sweeps.seeds(2)))
"""


def test_each_knob_is_a_sweep_axis_and_validated_before_a_run(tmp_path, data_dir):
  path = tmp_path / 'study.py'
  path.write_text(STUDY.format(data_dir=data_dir))
  loaded = sweeps.load(str(path))
  assert len(loaded.runs) == 8 and len(loaded.tasks) == 4  # Seeds share a task.
  run = next(r for r in loaded.runs if 'norm=layer' in r.name)
  assert run.name == ('grad_clip_norm=2.0,label_smoothing=0.2,norm=layer,'
                      'shortcut=none,weight_decay_mask=all/seed=0')
  assert (run.config.model.norm, run.config.model.shortcut) == ('layer', 'none')
  assert run.config.train.label_smoothing == 0.2
  assert run.config.optimizer.grad_clip_norm == 2.0
  runner.validate(loaded.tasks, str(tmp_path / 'out'))  # Every arm builds.

  for field, bad, message in [
      ('model.norm', 'batchnorm', "unknown norm 'batchnorm'; valid names: batch, "
       'group, layer, none'),
      ('model.shortcut', 'identity', "unknown shortcut 'identity'; valid names: "
       'none, projection, zeros'),
      ('train.label_smoothing', 1.0, r'train.label_smoothing must be in \[0, 1\)'),
      ('optimizer.grad_clip_norm', -1.0, 'optimizer.grad_clip_norm must be >= 0'),
      ('optimizer.weight_decay_mask', 'biases',
       "optimizer.weight_decay_mask='biases': use one of all, kernels")]:
    bad_study = sweeps.load(str(path))
    bad_run = bad_study.runs[0]
    with bad_run.config.unlocked():
      group, name = field.split('.')
      bad_run.config[group][name] = bad
    with pytest.raises(errors.UserError, match=message) as e:
      runner.validate(bad_study.tasks, str(tmp_path / 'out'))
    assert str(e.value).startswith(f'run {bad_run.name!r}: ')
  assert not (tmp_path / 'out').exists()


def test_a_bad_norm_on_the_command_line_is_one_line_and_writes_nothing(
    data_dir, tmp_path):
  workdir = tmp_path / 'run'
  proc = run_module('experiments.train', '--config=configs/cnn.py:digits',
                    f'--workdir={workdir}', f'--config.data.data_dir={data_dir}',
                    '--config.model.norm=batchnorm')
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines() == [
      "error: unknown norm 'batchnorm'; valid names: batch, group, layer, none"]
  assert not workdir.exists()


def test_the_trainers_step_trains_on_the_smoothed_loss(data_dir):
  """For fixed logits the smoothed loss is linear in the smoothing a:
  L(a) = (1 - a) L(0) + a U. The trainer's first step from one state, at
  a = 0, 0.45 and 0.9, must show it (same init, batch and dropout key).
  A small CNN: three compilations of its step are cheap."""
  losses = []
  for a in (0.0, 0.45, 0.9):
    config = cnn.get_config('digits')
    config.data.data_dir = data_dir
    config.model.features, config.model.convs_per_block = (8, 16), 1
    config.model.dense = (32,)
    config.train.label_smoothing = a
    program = trainer.Program(trainer.Run(config), stacked=False)
    state = program.init(0)
    _, metrics = program.step(state, program.feed(0, None)(1))
    losses.append(float(metrics['loss']))
  # Within float32 rounding of losses near ln 10 (an ulp is 2.4e-7).
  assert losses[1] - losses[0] == pytest.approx(losses[2] - losses[1], abs=2e-6)
  assert abs(losses[1] - losses[0]) > 1e-3


@pytest.fixture(scope='module')
def sequential(data_dir, tmp_path_factory):
  root = tmp_path_factory.mktemp('sequential')
  dirs = {s: str(root / str(s)) for s in SEEDS}
  for s in SEEDS:
    trainer.train_and_evaluate(_config(data_dir, s), dirs[s])
  return dirs


def test_vmapped_seeds_match_sequential_runs_with_every_knob_on(
    data_dir, tmp_path, sequential):
  dirs = [str(tmp_path / f'seed={s}') for s in SEEDS]
  multi_seed.train_and_evaluate([_config(data_dir, s) for s in SEEDS], dirs,
                                str(tmp_path), 0)  # 0: one vmapped program.
  ckpt = tmp_path / 'checkpoints'
  stacked = [checkpointing.load_state(str(ckpt / c)) for c in sorted(os.listdir(ckpt))]
  together = jax.tree.map(lambda *x: np.concatenate(x), *stacked)
  for i, s in enumerate(SEEDS):
    joint, alone = _train_metrics(dirs[i]), _train_metrics(sequential[s])
    assert [m['step'] for m in joint] == [m['step'] for m in alone] == [2, 3, 4, 6]
    np.testing.assert_allclose([m['loss'] for m in joint],
                               [m['loss'] for m in alone], rtol=1e-4)
    # Clipping was on in every logged step: the raw gradient is above CLIP.
    assert all(m['grad_norm'] > CLIP for m in alone)
    single = checkpointing.load_state(os.path.join(sequential[s], 'checkpoints'))
    for part in ('params', 'model_state'):  # BatchNorm statistics too.
      jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, atol=2e-5),
                   together[part], single[part])


def _committed_steps(workdir):
  ckpts = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(ckpts):
    return []
  return [d for d in os.listdir(ckpts) if d.isdigit() and
          os.path.exists(os.path.join(ckpts, d, 'commit_success.txt'))]


CONFIG = """from tests import test_recipe_axes


def get_config():
  c = test_recipe_axes._config({data_dir!r}, 0, steps=600)
  c.train.log_every_steps = c.train.checkpoint_every_steps = 100
  return c
"""


def _command(config_file, workdir):
  return [sys.executable, '-m', 'experiments.train', f'--config={config_file}',
          f'--workdir={workdir}']


@pytest.mark.slow
def test_killed_run_resumes_bitwise_with_every_knob_on(data_dir, tmp_path):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  config_file = tmp_path / 'config.py'
  config_file.write_text(CONFIG.format(data_dir=data_dir))
  straight = tmp_path / 'straight'
  done = subprocess.run(_command(config_file, straight), cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]

  broken = tmp_path / 'broken'
  proc = subprocess.Popen(_command(config_file, broken), cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while not _committed_steps(broken) and time.time() < deadline:
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not os.path.exists(broken / 'results.json'), 'run finished before the kill'

  resumed = subprocess.run(_command(config_file, broken), cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert 'resumed from the checkpoint at step' in resumed.stdout

  a = checkpointing.load_state(str(straight / 'checkpoints'))
  b = checkpointing.load_state(str(broken / 'checkpoints'))
  assert int(a['step']) == int(b['step']) == 600
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)  # Bitwise: same seed, same machine.
