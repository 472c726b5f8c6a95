"""train.trainable (lib/optim.py): a linear probe and fine-tuning are two
values of one field; frozen parameters and their BatchNorm statistics do not
move, and the compiled step has no backward pass for them."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import common
from lib import errors, models, optim, train_step

IMAGE = (32, 32, 3)


@functools.cache
def step_and_state(trainable, weight_decay=1e-4):
  """A ResNet-18 of one block per stage and 8 channels (the layers and
  names of the real one, compiled fast), its step and its fresh state."""
  config = common.base_config('digits')
  config.optimizer.name = 'momentum'
  config.optimizer.learning_rate = 0.1
  config.optimizer.weight_decay = weight_decay
  model = models.build(common.model('resnet18', stage_sizes=(1, 1, 1, 1),
                                    width=8), 10)
  tx = optim.build(config.optimizer, 100, 10, trainable=trainable)
  init = jax.jit(lambda: train_step.init_state(model, tx, IMAGE, seed=0),
                 compiler_options={'xla_backend_optimization_level': 0})
  step = jax.jit(train_step.make_train_step(model, tx, trainable=trainable))
  return step, init()


def batch(seed=0):
  rng = np.random.default_rng(seed)
  return {'image': jnp.asarray(rng.integers(0, 256, (8, *IMAGE)), jnp.uint8),
          'label': jnp.asarray(rng.integers(0, 10, 8), jnp.int32)}


def moved(before, after) -> dict[str, bool]:
  """Top-level module -> whether any of its leaves changed."""
  return {k: not all(np.array_equal(a, b) for a, b in
                     zip(jax.tree.leaves(before[k]), jax.tree.leaves(after[k])))
          for k in before}


@pytest.mark.parametrize('trainable, trained', [
    ('head', {'head'}),
    ('stage4_block1, head', {'stage4_block1', 'head'}),
    (('stage3_block1/b', 'head'), {'stage3_block1', 'head'}),
])
def test_only_the_trained_modules_and_their_statistics_move(trainable, trained):
  step, state = step_and_state(trainable)
  new, metrics = step(state, batch())
  new, metrics = step(new, batch(1))  # Momentum and decay act from step 2.
  assert {k for k, m in moved(state.params, new.params).items() if m} == trained
  stats_moved = moved(state.model_state['batch_stats'],
                      new.model_state['batch_stats'])
  assert {k for k, m in stats_moved.items() if m} == trained - {'head'}
  assert np.isfinite(metrics['grad_norm']) and metrics['grad_norm'] > 0


def test_a_linear_probe_trains_on_the_features_it_is_evaluated_on():
  """trainable='head': the frozen network runs as in evaluation (running
  statistics, no dropout), so the step's logits are the eval step's."""
  step, state = step_and_state('head')
  _, metrics = step(state, batch())
  model = models.build(common.model('resnet18', stage_sizes=(1, 1, 1, 1),
                                    width=8), 10)
  evaluated = train_step.make_eval_step(model)(
      state, {**batch(), 'mask': jnp.ones(8)})
  assert np.isclose(metrics['loss'] * 8, evaluated['loss_sum'], rtol=1e-5)


def test_all_trains_every_module_as_without_freezing():
  step, state = step_and_state('all')
  new, _ = step(state, batch())
  assert all(moved(state.params, new.params).values())
  assert all(moved(state.model_state['batch_stats'],
                 new.model_state['batch_stats']).values())


def _step_flops(trainable) -> float:
  step, state = step_and_state(trainable)
  compiled = step.lower(state, batch()).compile()
  analysis = compiled.cost_analysis()
  analysis = analysis[0] if isinstance(analysis, list) else analysis
  return float(analysis['flops'])


def test_frozen_layers_cost_no_backward_pass():
  """XLA's cost analysis of the compiled step: training the head alone costs
  about one forward pass (a full step: forward + two backward products, ~3x);
  training the last block too, a little more."""
  every, last, head = (_step_flops(t) for t in
                       ('all', 'stage4_block1, head', 'head'))
  assert head < 0.45 * every, (head, every)
  assert head < last < 0.6 * every, (head, last, every)


def test_refuses_names_that_are_no_module_in_one_line():
  params = {'stem_conv': {'kernel': jnp.zeros(1)}, 'head': {'bias': jnp.zeros(1)}}
  for trainable, message in (('stage9', "'stage9' is no module of the model"),
                             ('', 'train.trainable is empty'),
                             (' , ', 'train.trainable is empty')):
    with pytest.raises(errors.UserError, match=message) as e:
      optim.trainable_mask(trainable, params)
    assert '\n' not in str(e.value)
  with pytest.raises(errors.UserError, match="output layer is none of"):
    optim.trainable_mask('head', {'conv': {'kernel': jnp.zeros(1)}})
  assert optim.trainable_mask('head', {'fc7': {'k': 0}, 'fc8': {'k': 0}}) == {
      'fc7': {'k': False}, 'fc8': {'k': True}}
