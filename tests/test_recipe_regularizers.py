"""Label smoothing, gradient clipping and masked weight decay (issue 27),
each against a reference written out here, not against itself.

- Label smoothing: optax's cross-entropy on optax.smooth_labels' targets,
  and the formula in float64 numpy; the one-output task against Keras's
  formula for binary smoothing.
- Clipping: the global norm of the update after clipping.
- Masked decay: a BatchNorm scale (and every bias) left unchanged by decay
  while the kernels shrink by exactly lr * decay * kernel.
"""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from configs import common
from lib import errors, models, optim, train_step, trainer


def _log_softmax64(logits):
  z = np.asarray(logits, np.float64)
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


@pytest.mark.parametrize('a', [0.1, 0.3])
def test_label_smoothing_is_cross_entropy_on_smoothed_labels(a):
  k = 10
  logits = 3 * jax.random.normal(jax.random.PRNGKey(0), (64, k))
  labels = jax.random.randint(jax.random.PRNGKey(1), (64,), 0, k)
  ours = train_step.per_example_loss(logits, labels, label_smoothing=a)

  by_optax = optax.softmax_cross_entropy(
      logits, optax.smooth_labels(jax.nn.one_hot(labels, k), a))
  np.testing.assert_allclose(ours, by_optax, rtol=1e-6)
  # The formula: (1 - a) * -log p_label + a * mean over classes of -log p.
  logp = _log_softmax64(logits)
  formula = (-(1 - a) * logp[np.arange(64), np.asarray(labels)]
             - a * logp.mean(-1))
  np.testing.assert_allclose(ours, formula, rtol=1e-5)
  # And it is not the unsmoothed loss.
  assert not np.allclose(ours, train_step.per_example_loss(logits, labels))


def test_no_smoothing_is_the_integer_label_loss_bitwise():
  logits = jax.random.normal(jax.random.PRNGKey(0), (16, 10))
  labels = jax.random.randint(jax.random.PRNGKey(1), (16,), 0, 10)
  np.testing.assert_array_equal(
      train_step.per_example_loss(logits, labels, 0.0),
      optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def test_one_output_task_smooths_its_target_as_keras_does():
  a = 0.2
  logits = 2 * jax.random.normal(jax.random.PRNGKey(2), (32, 1))
  labels = jax.random.randint(jax.random.PRNGKey(3), (32,), 0, 2)
  ours = train_step.per_example_loss(logits, labels, label_smoothing=a)
  # Keras BinaryCrossentropy(label_smoothing=a): y * (1 - a) + a / 2.
  y = np.asarray(labels, np.float64) * (1 - a) + a / 2
  z = np.asarray(logits[:, 0], np.float64)
  p = 1 / (1 + np.exp(-z))
  np.testing.assert_allclose(ours, -(y * np.log(p) + (1 - y) * np.log(1 - p)),
                             rtol=1e-5)


def test_the_train_step_trains_on_the_smoothed_loss():
  a, k = 0.1, 10
  model = models.build(common.model('cnn', features=(4,), dense=(8,),
                                    dropout=0.0), k)
  images = jax.random.uniform(jax.random.PRNGKey(0), (8, 8, 8, 1))
  labels = jnp.arange(8) % k
  params = jax.jit(lambda: model.init(jax.random.PRNGKey(1), images,
                                      train=False)['params'])()
  key = jax.random.PRNGKey(2)
  loss, logits, _, grads = jax.jit(
      lambda p: train_step.loss_and_grads(model, p, {}, images, labels, key,
                                          label_smoothing=a))(params)
  reference = lambda p: optax.softmax_cross_entropy(
      model.apply({'params': p}, images), optax.smooth_labels(
          jax.nn.one_hot(labels, k), a)).mean()
  np.testing.assert_allclose(loss, reference(params), rtol=1e-6)
  jax.tree.map(lambda g, r: np.testing.assert_allclose(g, r, atol=1e-6),
               grads, jax.grad(reference)(params))
  plain = jax.jit(lambda p: train_step.loss_and_grads(
      model, p, {}, images, labels, key)[0])(params)
  assert loss != plain
  np.testing.assert_allclose(logits, model.apply({'params': params}, images),
                             rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('a', [-0.1, 1.0, 1.5])
def test_bad_label_smoothing_is_refused(a):
  """By the checks trainer.Run makes before anything is written."""
  config = common.base_config('digits')
  config.train.label_smoothing = a
  with pytest.raises(errors.UserError,
                     match=r'train.label_smoothing must be in \[0, 1\)') as e:
    trainer.Run.check_values(config)
  assert f'got the config\'s value: {a!r}' in str(e.value)
  config.train.label_smoothing = 0.1
  trainer.Run.check_values(config)


def _optimizer(**fields) -> ml_collections.ConfigDict:
  c = common.base_config('digits').optimizer
  c.update(fields)
  return c


def _params():
  """A small model with every kind of parameter: conv and dense kernels,
  biases, and a BatchNorm scale and bias."""
  model = models.build(common.model('cnn', features=(4,), dense=(8,),
                                    norm='batch'), 10)
  return jax.jit(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros(
      (1, 8, 8, 1)), train=False)['params'])()


def _update(c, grads, params):
  tx = optim.build(c, total_steps=10, steps_per_epoch=10)
  return jax.jit(lambda g, p: tx.update(g, tx.init(p), p)[0])(grads, params)


@pytest.mark.parametrize('name', ['gd', 'momentum', 'adam'])
def test_clipping_bounds_the_global_norm_of_the_update(name):
  """With plain gradient descent at learning rate lr, the update after
  clipping has global norm lr * grad_clip_norm; with any optimizer, the
  gradient it sees is clipped first, so its first update equals that
  optimizer's update of the clipped gradient."""
  params = _params()
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
  grads = jax.tree.unflatten(tree, [jax.random.normal(k, x.shape) for k, x in
                                    zip(keys, leaves)])
  norm = float(optax.global_norm(grads))
  clip, lr = norm / 7, 0.5
  c = _optimizer(name=name, learning_rate=lr, grad_clip_norm=clip)
  updates = _update(c, grads, params)
  clipped = jax.tree.map(lambda g: g * clip / norm, grads)
  expected = _update(_optimizer(name=name, learning_rate=lr), clipped, params)
  jax.tree.map(lambda u, e: np.testing.assert_allclose(u, e, rtol=2e-5,
                                                       atol=1e-7),
               updates, expected)
  if name == 'gd':
    new = optax.apply_updates(params, updates)
    moved = jax.tree.map(jnp.subtract, new, params)
    assert float(optax.global_norm(moved)) == pytest.approx(lr * clip, rel=1e-5)
  # A gradient already within the bound passes unchanged.
  small = jax.tree.map(lambda g: g * 0.5 * clip / norm, grads)
  jax.tree.map(np.testing.assert_array_equal, _update(c, small, params),
               _update(_optimizer(name=name, learning_rate=lr), small, params))


@pytest.mark.parametrize('name', ['momentum', 'adamw'])
def test_kernels_mask_leaves_batchnorm_scales_and_biases_undecayed(name):
  """At a zero gradient the update is decay alone: with 'kernels' every
  BatchNorm scale and bias (and the head's bias) stays exactly where it is,
  while each kernel moves by -lr * decay * kernel; with 'all' the scales
  decay too."""
  params = _params()
  zeros = jax.tree.map(jnp.zeros_like, params)
  lr, wd = 0.1, 0.01
  masked = _update(_optimizer(name=name, learning_rate=lr, weight_decay=wd,
                              weight_decay_mask='kernels'), zeros, params)
  everything = _update(_optimizer(name=name, learning_rate=lr,
                                  weight_decay=wd), zeros, params)
  assert float(params['conv0_0']['bn']['scale'][0]) == 1.0
  kinds = set()
  for (path, u), p, e in zip(jax.tree_util.tree_flatten_with_path(masked)[0],
                             jax.tree.leaves(params), jax.tree.leaves(everything)):
    kind = path[-1].key
    kinds.add(kind)
    np.testing.assert_allclose(e, -lr * wd * p, rtol=1e-5, atol=1e-12)
    if kind == 'kernel':
      np.testing.assert_allclose(u, -lr * wd * p, rtol=1e-5)
    else:
      assert not np.any(u), jax.tree_util.keystr(path)
  assert kinds == {'kernel', 'scale', 'bias'}
  new = optax.apply_updates(params, masked)['conv0_0']['bn']['scale']
  np.testing.assert_array_equal(new, params['conv0_0']['bn']['scale'])


@pytest.mark.parametrize('fields, message', [
    ({'weight_decay_mask': 'biases'},
     "weight_decay_mask='biases': use one of all, kernels"),
    ({'grad_clip_norm': -1.0}, r'grad_clip_norm must be >= 0 \(0: no clipping\)'),
    ({'weight_decay': -1e-4}, 'weight_decay must be >= 0'),
])
def test_bad_values_are_refused_in_one_line(fields, message):
  with pytest.raises(errors.UserError, match=message) as e:
    optim.build(_optimizer(**fields), 10, 10)
  assert '\n' not in str(e.value)
