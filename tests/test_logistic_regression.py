"""Logistic regression against the lecture's closed forms."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from configs import common
from lib import models, optim, train_step


def _sigmoid(z):
  return 1 / (1 + np.exp(-z))


def _setup():
  rng = np.random.default_rng(0)
  m, d = 64, 5
  x = rng.normal(size=(m, d)).astype(np.float32)
  y = (rng.random(m) < 0.5).astype(np.int32)
  model = models.build(ml_collections.ConfigDict({'name': 'logistic_regression'}),
                       num_outputs=train_step.num_outputs(2))
  params = model.init(jax.random.PRNGKey(1), jnp.asarray(x))['params']

  def cost(p):
    return train_step.per_example_loss(model.apply({'params': p}, x), y).mean()

  # theta = [bias, weights] against X with a leading column of ones.
  theta = np.concatenate([np.asarray(params['linear']['bias']),
                          np.asarray(params['linear']['kernel'])[:, 0]])
  x1 = np.concatenate([np.ones((m, 1), np.float32), x], axis=1)
  return model, params, cost, x1, y, theta


def test_gradient_matches_closed_form():
  _, params, cost, x1, y, theta = _setup()
  grads = jax.grad(cost)(params)
  closed_form = x1.T @ (_sigmoid(x1 @ theta) - y) / len(y)
  ours = np.concatenate([np.asarray(grads['linear']['bias']),
                         np.asarray(grads['linear']['kernel'])[:, 0]])
  np.testing.assert_allclose(ours, closed_form, rtol=1e-5, atol=1e-6)


def test_full_batch_gradient_descent_step():
  _, params, cost, x1, y, theta = _setup()
  alpha = 0.3
  config = common.base_config('digits').optimizer
  config.update(dict(name='gd', learning_rate=alpha, schedule='constant'))
  tx = optim.build(config, total_steps=10, steps_per_epoch=1)
  grads = jax.grad(cost)(params)
  updates, _ = tx.update(grads, tx.init(params), params)
  new = optax.apply_updates(params, updates)
  expected = theta - alpha * (x1.T @ (_sigmoid(x1 @ theta) - y) / len(y))
  ours = np.concatenate([np.asarray(new['linear']['bias']),
                         np.asarray(new['linear']['kernel'])[:, 0]])
  np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
