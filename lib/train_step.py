"""The train state and the pure, jit-compiled train and eval steps.

This is the hot path: read it top to bottom. The steps are written for the
global batch; the trainer compiles them with the batch sharded over the
device mesh, so XLA adds the cross-device gradient (and BatchNorm
statistics) reductions itself.
"""
from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from lib import losses
from lib.data import device_augment, pipeline


@flax.struct.dataclass
class TrainState:
  step: jax.Array         # int32 scalar: optimizer steps taken.
  params: Any             # Trainable parameters (float32).
  model_state: Any        # Other collections, e.g. {'batch_stats': ...}, or {}.
  opt_state: Any
  rng: jax.Array          # uint32[2] key; dropout uses fold_in(rng, step).


def init_state(model: nn.Module, tx: optax.GradientTransformation,
               image_shape: tuple[int, ...], seed: int) -> TrainState:
  """Fresh state; jit it with replicated out_shardings to place it."""
  init_key, dropout_key = jax.random.split(jax.random.PRNGKey(seed))
  dummy = jnp.zeros((1, *image_shape), jnp.float32)
  variables = model.init({'params': init_key}, dummy, train=False)
  params = variables.pop('params')
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    model_state=dict(variables), opt_state=tx.init(params),
                    rng=dropout_key)


def make_train_step(model: nn.Module, tx: optax.GradientTransformation,
                    random_shift: int = 0
                    ) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:

  def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    step_rng = jax.random.fold_in(state.rng, state.step)
    dropout_rng, shift_rng = jax.random.split(step_rng)
    images = device_augment.random_shift(batch['image'], shift_rng, random_shift)
    images = pipeline.to_float(images)
    labels = batch['label']
    mutable = list(state.model_state)  # BatchNorm statistics, if any.

    def loss_fn(params):
      variables = {'params': params, **state.model_state}
      logits, new_model_state = model.apply(
          variables, images, train=True, rngs={'dropout': dropout_rng},
          mutable=mutable)
      loss = losses.per_example_loss(logits, labels).mean()
      return loss, (logits, new_model_state)

    (loss, (logits, new_model_state)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new_state = state.replace(step=state.step + 1, params=params,
                              model_state=dict(new_model_state),
                              opt_state=opt_state)
    metrics = {
        'loss': loss,
        'accuracy': losses.correct(logits, labels).mean(),
        'grad_norm': optax.global_norm(grads),
    }
    return new_state, metrics

  return train_step


def make_eval_step(model: nn.Module) -> Callable[[TrainState, dict], dict]:

  def eval_step(state: TrainState, batch: dict) -> dict:
    """Sums over the real (mask=1) examples; padding contributes nothing."""
    variables = {'params': state.params, **state.model_state}
    logits = model.apply(variables, pipeline.to_float(batch['image']),
                         train=False)
    mask = batch['mask'].astype(jnp.float32)
    per_example = losses.per_example_loss(logits, batch['label'])
    return {
        'loss_sum': (per_example * mask).sum(),
        'correct': (losses.correct(logits, batch['label']) * mask).sum(),
        'count': mask.sum(),
    }

  return eval_step
