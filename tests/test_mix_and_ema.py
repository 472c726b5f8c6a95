"""Mixup, cutmix and the EMA of the weights (issue 27), against references
written out here, compiled as the trainer runs them.

- Mixup and cutmix: the images and targets equal a numpy implementation of
  timm's formulas (Mixup in 'batch' mode, rand_bbox, cutmix_bbox_and_lam,
  mixup_target) on the draws of fixed keys; mixed targets sum to 1; the
  pasted area is 1 - lam of each image; lam, the switch and the box's centre
  follow their distributions; the train step's loss is optax's cross-entropy
  of the model on the numpy-mixed batch, with grad_accum_steps 1 and 2.
- The EMA: a trained run's checkpoint at every step against the sequential
  numpy recurrence over the parameters and BatchNorm statistics saved there;
  its evaluation is the averaged model's, raw_* the trained weights'.
- Stacked (vmapped) seeds equal their ordinary runs with both on; a run
  killed with SIGKILL resumes bitwise with both on (tests/test_resume.py's
  method); the EMA run takes its batches from the grain pipeline, mixed.
"""
import functools
import json
import os
import signal
import subprocess
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from configs import common, cnn, mlp
from lib import checkpointing, errors, metrics_writer, models
from lib import multi_seed, sweeps, train_step, trainer
from lib.sweeps import runner
from tests import test_resume
from tests.conftest import ROOT

H, W = 12, 10  # Not square: rows and columns are not swapped.


def _batch(n=8, classes=10, seed=0):
  rng = np.random.default_rng(seed)
  images = rng.uniform(size=(n, H, W, 3)).astype(np.float32)
  labels = rng.permutation(classes)[:n].astype(np.int32)  # i and n-1-i differ.
  return images, labels


def _numpy_targets(labels, classes, smoothing):
  """timm's mixup_target before mixing: off = a / K, on = 1 - a + a / K."""
  off = smoothing / classes
  t = np.full((len(labels), classes), off, np.float64)
  t[np.arange(len(labels)), labels] = 1 - smoothing + off
  return t


def _numpy_mix(images, targets, lam, use_cutmix, cy, cx):
  """timm's Mixup._mix_batch ('batch' mode) and its targets, in numpy."""
  images, lam = np.array(images), np.float32(lam)
  if use_cutmix:
    ratio = np.sqrt(np.float32(1) - lam)
    cut_h, cut_w = int(np.float32(H) * ratio), int(np.float32(W) * ratio)
    yl, yh = np.clip(cy - cut_h // 2, 0, H), np.clip(cy + cut_h // 2, 0, H)
    xl, xh = np.clip(cx - cut_w // 2, 0, W), np.clip(cx + cut_w // 2, 0, W)
    images[:, yl:yh, xl:xh] = images[::-1][:, yl:yh, xl:xh]
    lam = 1 - (yh - yl) * (xh - xl) / (H * W)
  else:
    images = images * lam + images[::-1] * (np.float32(1) - lam)
  return images, targets * lam + targets[::-1] * (1 - lam)


_draw = jax.jit(train_step.draw_mix, static_argnums=(1, 2, 3))
_mix = jax.jit(train_step.mix)
MIXUP, CUTMIX, BOTH = (train_step.Mixing(mixup_alpha=0.4),
                       train_step.Mixing(cutmix_alpha=1.0),
                       train_step.Mixing(0.4, 1.0, switch_prob=0.3))
N_DRAWS = 2000


@functools.cache
def _draws(recipe: train_step.Mixing) -> train_step.MixDraw:
  """The recipe's draws from N_DRAWS fixed keys (one compilation each)."""
  keys = jax.random.split(jax.random.PRNGKey(0), N_DRAWS)
  return jax.device_get(jax.jit(jax.vmap(lambda k: train_step.draw_mix(k, recipe, H, W)))(keys))


@pytest.mark.parametrize('recipe', [MIXUP, CUTMIX, BOTH])
def test_mixed_batches_equal_numpy_on_fixed_keys(recipe):
  images, labels = _batch()
  for smoothing in (0.0, 0.1):
    targets = train_step.soft_targets(jnp.asarray(labels), 10, smoothing)
    np.testing.assert_allclose(targets, _numpy_targets(labels, 10, smoothing),
                               rtol=1e-6)
    kinds = set()
    for i in range(12):
      d = jax.tree.map(lambda x, i=i: x[i], _draws(recipe))
      ours_images, ours_targets = _mix(images, targets, d)
      use_cutmix = bool(d.use_cutmix)
      kinds.add(use_cutmix)
      ref_images, ref_targets = _numpy_mix(images, np.asarray(targets),
                                           float(d.lam), use_cutmix, *d.centre)
      if use_cutmix:
        np.testing.assert_array_equal(ours_images, ref_images)
      else:
        np.testing.assert_allclose(ours_images, ref_images, rtol=1e-6, atol=1e-7)
      np.testing.assert_allclose(ours_targets, ref_targets, rtol=1e-6, atol=1e-7)
      np.testing.assert_allclose(np.sum(ours_targets, -1), 1, rtol=1e-6)
      if use_cutmix:
        # Each image keeps lam of its pixels and takes 1 - lam from its
        # partner (all of whose pixels differ): the weight of its own label.
        changed = (np.asarray(ours_images) != images).any(-1).sum((1, 2))
        own = np.asarray(ours_targets)[np.arange(8), labels]
        lam = (own - smoothing / 10) / (1 - smoothing)
        np.testing.assert_allclose(changed, (1 - lam) * H * W, atol=1e-3)
    assert kinds == ({True, False} if recipe.mixup_alpha and recipe.cutmix_alpha
                     else {bool(recipe.cutmix_alpha)})


def test_one_output_task_mixes_its_binary_target():
  images = _batch(n=6)[0]
  labels = np.array([0, 1, 1, 0, 0, 1], np.int32)
  targets = train_step.soft_targets(jnp.asarray(labels), 1, 0.2)
  smoothed = labels * 0.8 + 0.1  # Keras's binary smoothing, then the mix.
  np.testing.assert_allclose(targets, smoothed, rtol=1e-6)
  d = jax.tree.map(lambda x: x[0], _draws(MIXUP))
  mixed, targets = _mix(images, targets, d)
  ref_images, ref_targets = _numpy_mix(images, smoothed, float(d.lam), False, 0, 0)
  np.testing.assert_allclose(mixed, ref_images, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(targets, ref_targets, rtol=1e-6)
  z = np.random.default_rng(0).normal(size=6)
  p = 1 / (1 + np.exp(-z))
  np.testing.assert_allclose(
      train_step.soft_target_loss(jnp.asarray(z[:, None], jnp.float32), targets),
      -(ref_targets * np.log(p) + (1 - ref_targets) * np.log(1 - p)), rtol=1e-5)


def test_draws_follow_their_distributions():
  """lam ~ Beta(alpha, alpha) of the method drawn, cutmix with probability
  switch_prob, the box's centre uniform over the pixels (Kolmogorov-Smirnov
  and chi-square on 2,000 fixed keys)."""
  d = _draws(BOTH)
  cut = d.use_cutmix
  assert abs(cut.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / N_DRAWS)
  lam = np.asarray(d.lam, np.float64)
  assert stats.kstest(lam[~cut], stats.beta(0.4, 0.4).cdf).pvalue > 1e-3
  assert stats.kstest(lam[cut], stats.beta(1.0, 1.0).cdf).pvalue > 1e-3
  for axis, size in ((0, H), (1, W)):
    counts = np.bincount(d.centre[:, axis], minlength=size)
    assert len(counts) == size and stats.chisquare(counts).pvalue > 1e-3
  for only, alpha, cutmix in ((MIXUP, 0.4, False), (CUTMIX, 1.0, True)):
    assert (_draws(only).use_cutmix == cutmix).all()
    assert stats.kstest(np.float64(_draws(only).lam),
                        stats.beta(alpha, alpha).cdf).pvalue > 1e-3


def test_the_step_trains_on_the_mixed_batch():
  """The step's loss and gradient are optax's soft-target cross-entropy of
  the model on the batch augmented, then mixed as numpy mixes it (the whole
  batch, before any slicing: grad_accum_steps 1 and 2 alike); its accuracy
  is against the original labels; its EMA moves by the recurrence."""
  k, n, smoothing, decay = 10, 8, 0.1, 0.9
  model = models.build(common.model('cnn', features=(4,), dense=(8,),
                                    dropout=0.0), k)
  tx = optax.sgd(0.5)
  augmentation = train_step.Augmentation(flip=True, shift=1)
  steps = [jax.jit(train_step.make_train_step(
      model, tx, augmentation, accumulate, mixing=BOTH, ema_decay=decay,
      label_smoothing=smoothing)) for accumulate in (1, 2)]
  state = jax.jit(lambda: train_step.init_state(model, tx, (H, W, 3), 0,
                                                with_ema=True))()
  images, labels = _batch(n)
  batch = {'image': jnp.asarray(images * 255, jnp.uint8), 'label': jnp.asarray(labels)}
  augment = jax.jit(train_step.augment, static_argnums=2)

  @jax.jit
  def reference(params, mixed, targets):
    def loss_fn(params):
      logits = model.apply({'params': params}, mixed)
      return optax.softmax_cross_entropy(logits, targets).mean(), logits
    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    return loss, logits, grads

  kinds = set()
  for _ in range(5):
    _, augment_rng = jax.random.split(jax.random.fold_in(state.rng, state.step))
    float_images = np.asarray(train_step.to_float(
        augment(batch['image'], augment_rng, augmentation)))
    d = _draw(jax.random.fold_in(augment_rng, train_step.MIX_KEY_FOLD), BOTH, H, W)
    kinds.add(bool(d.use_cutmix))
    mixed, targets = _numpy_mix(float_images, _numpy_targets(labels, k, smoothing),
                                float(d.lam), bool(d.use_cutmix), *np.asarray(d.centre))
    loss, logits, grads = reference(state.params, mixed, np.float32(targets))
    expected = jax.tree.map(lambda p, g: p - 0.5 * g, state.params, grads)
    for step in steps:
      new_state, metrics = step(state, batch)
      assert float(metrics['loss']) == pytest.approx(float(loss), rel=1e-5)
      assert float(metrics['accuracy']) == np.mean(np.argmax(logits, -1) == labels)
      jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                   new_state.params, expected)
      jax.tree.map(lambda e, old, p: np.testing.assert_allclose(
          e, decay * np.float64(old) + (1 - decay) * np.float64(p), rtol=1e-6,
          atol=1e-7), new_state.ema['params'], state.ema['params'], new_state.params)
    state = new_state
  assert kinds == {True, False}


@pytest.mark.parametrize('field, value, message', [
    ('data.mixup_alpha', -0.2, r'data.mixup_alpha must be >= 0'),
    ('data.cutmix_alpha', -1.0, r'data.cutmix_alpha must be >= 0'),
    ('data.mix_switch_prob', 1.5, r'data.mix_switch_prob must be in \[0, 1\]'),
    ('train.ema_decay', 1.0, r'train.ema_decay must be in \[0, 1\)'),
    ('train.ema_decay', -0.5, r'train.ema_decay must be in \[0, 1\)'),
])
def test_bad_values_are_refused_in_one_line(data_dir, field, value, message):
  config = cnn.get_config('digits')
  config.data.data_dir = data_dir
  group, name = field.split('.')
  config[group][name] = value
  with pytest.raises(errors.UserError, match=message) as e:
    trainer.Run(config)
  assert '\n' not in str(e.value) and f'{value!r}' in str(e.value)


def test_each_field_is_a_sweep_axis(tmp_path):
  """configs/sweeps take the fields as axes; a bad value in one stops the
  study before any run starts (lib/sweeps/runner.py validate)."""
  axes = ("sweeps.product({'data.mixup_alpha': [0.0, 0.2], 'data.cutmix_alpha': "
          "[1.0], 'data.mix_switch_prob': [0.5], 'train.ema_decay': [0.0, 0.99]}, "
          'sweeps.seeds(1))')
  path = tmp_path / 'study.py'
  path.write_text('from lib import sweeps\n\ndef get_sweep():\n  return '
                  f"sweeps.Sweep(config='configs/mlp.py:digits', axes={axes})\n")
  study = sweeps.load(str(path))
  values = sorted((r.config.data.mixup_alpha, r.config.train.ema_decay)
                  for r in study.runs)
  assert values == [(0.0, 0.0), (0.0, 0.99), (0.2, 0.0), (0.2, 0.99)]
  assert {r.config.data.cutmix_alpha for r in study.runs} == {1.0}
  path.write_text(path.read_text().replace('0.99]', '1.5]'))
  study = sweeps.load(str(path))
  with pytest.raises(errors.UserError, match='train.ema_decay must be in'):
    runner.validate(study.tasks, str(tmp_path / 'study'))


def _ema_config(data_dir):
  c = cnn.get_config('digits')
  c.data.data_dir = data_dir
  c.model.features, c.model.convs_per_block, c.model.dense = (8, 16), 1, (32,)
  c.model.norm = 'batch'  # Its statistics are averaged too.
  # The host pipeline's batch is mixed in the step too.
  c.data.pipeline, c.data.mixup_alpha, c.data.cutmix_alpha = 'grain', 0.4, 1.0
  c.train.ema_decay = 0.7  # Far from 1: each step moves the average visibly.
  c.train.num_epochs, c.train.num_steps = 0.0, 6
  c.train.checkpoint_every_steps, c.train.keep_checkpoints = 1, 10
  c.train.eval_every_epochs = 100.0
  return c


def test_ema_is_the_recurrence_over_the_saved_weights(data_dir, tmp_path):
  config = _ema_config(data_dir)
  results = trainer.train_and_evaluate(config, str(tmp_path))
  ckpts = str(tmp_path / 'checkpoints')
  program = trainer.Program(trainer.Run(config), stacked=False)
  init = jax.device_get(program.init(config.seed))
  weights = lambda s: {'params': s['params'], 'model_state': s['model_state']}
  initial = {'params': init.params, 'model_state': init.model_state}
  assert 'batch_stats' in initial['model_state']
  jax.tree.map(np.testing.assert_array_equal, init.ema, initial)
  average = jax.tree.map(np.float64, initial)
  d = config.train.ema_decay
  for step in range(1, 7):
    saved = checkpointing.load_state(ckpts, step)
    average = jax.tree.map(lambda e, w: d * e + (1 - d) * np.float64(w),
                           average, weights(saved))
    jax.tree.map(lambda ours, ref: np.testing.assert_allclose(
        ours, ref, rtol=2e-6, atol=1e-7), saved['ema'], average)
  # Evaluated on the average; raw_*: the trained weights.
  last = checkpointing.load_state(ckpts, 6)
  as_model = lambda w: train_step.TrainState(
      step=last['step'], params=w['params'], model_state=w['model_state'],
      opt_state=None, rng=last['rng'])
  for name, w in (('', last['ema']), ('raw_', weights(last))):
    figures = trainer.evaluate(program.eval, as_model(w), program.eval_batches('test'))
    assert results[f'test_{name}accuracy'] == pytest.approx(figures['accuracy'], abs=1e-7)
    assert results[f'test_{name}loss'] == pytest.approx(figures['loss'], rel=1e-5)
  assert results['test_accuracy'] != results['test_raw_accuracy'] or \
      results['test_loss'] != results['test_raw_loss']
  logged = [m for m in metrics_writer.read(str(tmp_path)) if m['split'] != 'train']
  assert {m['split'] for m in logged} == {'validation', 'test'}
  assert all({'loss', 'accuracy', 'raw_loss', 'raw_accuracy'} <= set(m) for m in logged)


SEEDS = (0, 3)


def _mixed_config(data_dir, seed):
  c = cnn.get_config('digits')
  c.seed = seed
  c.data.data_dir = data_dir
  c.model.features, c.model.convs_per_block, c.model.dense = (8, 16), 1, (32,)
  c.data.mixup_alpha, c.data.cutmix_alpha = 0.4, 1.0
  c.train.label_smoothing = 0.1
  c.train.ema_decay = 0.9
  c.train.num_epochs, c.train.num_steps = 0.0, 4
  c.train.log_every_steps = 1
  return c


def test_vmapped_seeds_equal_their_runs_with_mix_and_ema(data_dir, tmp_path):
  configs = [_mixed_config(data_dir, s) for s in SEEDS]
  alone = [str(tmp_path / 'alone' / str(s)) for s in SEEDS]
  together = [str(tmp_path / 'together' / str(s)) for s in SEEDS]
  # One seed per program: each seed's ordinary run (tests/test_multi_seed.py).
  expected = multi_seed.train_and_evaluate(configs, alone, str(tmp_path / 'alone'), 1)
  results = multi_seed.train_and_evaluate(configs, together,
                                          str(tmp_path / 'together'), 0)
  losses_of = lambda w: [m['loss'] for m in metrics_writer.read(w) if m['split'] == 'train']
  for i in range(len(SEEDS)):
    np.testing.assert_allclose(losses_of(together[i]), losses_of(alone[i]), rtol=1e-4)
    for key in ('test_accuracy', 'test_raw_accuracy'):
      assert results[i][key] == pytest.approx(expected[i][key], abs=1e-6)
    np.testing.assert_allclose(results[i]['test_raw_loss'], expected[i]['test_raw_loss'],
                               rtol=1e-4)
  # The seeds drew differently (their own keys): their losses differ.
  assert losses_of(alone[0]) != losses_of(alone[1])
  (chunk,) = os.listdir(tmp_path / 'together' / 'checkpoints')
  stacked = checkpointing.load_state(str(tmp_path / 'together' / 'checkpoints' / chunk))
  for i in range(len(SEEDS)):
    single = checkpointing.load_state(os.path.join(alone[i], 'checkpoints'))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, atol=2e-5),
                 stacked['ema'], single['ema'])


MIX_AND_EMA = ['--config.data.mixup_alpha=0.4', '--config.data.cutmix_alpha=1.0',
               '--config.train.label_smoothing=0.1', '--config.train.ema_decay=0.99']


@pytest.mark.slow
def test_killed_run_with_mix_and_ema_resumes_bitwise(data_dir, tmp_path):
  """tests/test_resume.py's kill -9, with mixing and the average on."""
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  command = lambda w: test_resume._command(w, data_dir, 'device') + MIX_AND_EMA
  straight, broken = tmp_path / 'straight', tmp_path / 'broken'
  subprocess.run(command(straight), cwd=ROOT, env=env, check=True,
                 capture_output=True, timeout=300)
  proc = subprocess.Popen(command(broken), cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 120
  while not test_resume._committed_steps(broken) and time.time() < deadline:
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not os.path.exists(broken / 'results.json'), 'run finished before the kill'
  resumed = subprocess.run(command(broken), cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert 'resumed from the checkpoint at step' in resumed.stdout
  a = checkpointing.load_state(str(straight / 'checkpoints'))
  b = checkpointing.load_state(str(broken / 'checkpoints'))
  assert int(a['step']) == int(b['step']) == 1500 and 'ema' in a
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)
  with open(straight / 'results.json') as f:
    assert 'test_raw_accuracy' in json.load(f)


def test_turning_the_average_on_in_a_resume_is_refused(data_dir, tmp_path):
  """Even where a config change is allowed: the checkpoint has no average to
  go on with (it is not set aside as unreadable, nor the run restarted)."""
  config = mlp.get_config('digits')
  config.data.data_dir = data_dir
  config.train.num_epochs, config.train.num_steps = 0.0, 2
  trainer.train_and_evaluate(config, str(tmp_path))
  config.train.num_steps, config.train.ema_decay = 4, 0.9
  with pytest.raises(errors.UserError, match=r'does not fit this config: the '
                     r'average of the weights \(train.ema_decay\)'):
    trainer.train_and_evaluate(config, str(tmp_path), allow_config_change=True)
  assert os.listdir(tmp_path / 'checkpoints') == ['2']
