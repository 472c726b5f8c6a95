"""The hot path, top to bottom: the train state, the loss and its gradient,
the update, how a step takes its batch, how seeds are mapped, and the eval
step. lib/trainer.py's loop only calls `make_step`'s result.

The steps are written for the global batch; the trainer compiles them with
the batch sharded over the device mesh, so XLA adds the cross-device
gradient (and BatchNorm statistics) reductions itself.
"""
import functools
from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from lib import errors, losses, optim
from lib.data import device_augment, pipeline


@flax.struct.dataclass
class TrainState:
  step: jax.Array         # int32 scalar: optimizer steps taken.
  params: Any             # Trainable parameters (float32).
  model_state: Any        # Other collections, e.g. {'batch_stats': ...}, or {}.
  opt_state: Any
  rng: jax.Array          # uint32[2] key; each step uses fold_in(rng, step).


@flax.struct.dataclass
class AveragedTrainState(TrainState):
  """The state of a run with train.ema_decay > 0: also an exponential moving
  average of the weights, as timm's ModelEmaV2 keeps it: every floating
  variable of the model, the parameters and the BatchNorm statistics alike,
  starts at the initial weights and after each optimizer step becomes

      ema <- decay * ema + (1 - decay) * weights.

  Saved in every checkpoint; evaluation uses it (make_eval_step), the
  trained weights' figures logged beside it as raw_loss and raw_accuracy.
  A subclass, so that a run without it saves the state it always did."""
  ema: Any                # {'params': ..., 'model_state': ...}


def check_ema_decay(decay: float) -> None:
  if not 0 <= decay < 1:
    raise errors.UserError(
        f'train.ema_decay must be in [0, 1) (the weight of the average; '
        f'0: off, e.g. 0.999); got {decay!r}')


def update_ema(ema: dict, params, model_state, decay: float) -> dict:
  """One step of the average towards the weights after an update; integer
  variables (none in today's models) are copied, as timm's ModelEmaV3
  copies them."""
  def average(e, w):
    if not jnp.issubdtype(w.dtype, jnp.floating):
      return w
    return decay * e + (1 - decay) * w
  return jax.tree.map(average, ema, {'params': params, 'model_state': model_state})


def init_state(model: nn.Module, tx: optax.GradientTransformation,
               image_shape: tuple[int, ...], seed: int,
               with_ema: bool = False) -> TrainState:
  """Fresh state; jit it with replicated out_shardings to place it.
  `with_ema`: it keeps an average of the weights (train.ema_decay > 0)."""
  init_key, step_key = jax.random.split(jax.random.PRNGKey(seed))
  dummy = jnp.zeros((1, *image_shape), jnp.float32)
  variables = model.init({'params': init_key}, dummy, train=False)
  params = variables.pop('params')
  model_state = dict(variables)
  fields = dict(step=jnp.zeros((), jnp.int32), params=params,
                model_state=model_state, opt_state=tx.init(params), rng=step_key)
  if with_ema:
    # The average starts at the initial weights.
    return AveragedTrainState(**fields, ema={'params': params,
                                             'model_state': model_state})
  return TrainState(**fields)


def loss_and_grads(model: nn.Module, params, model_state, images, labels,
                   dropout_rng, label_smoothing: float = 0.0,
                   train: bool = True):  # False: a probe (optim.is_probe).
  """Mean cross-entropy of the batch in train mode (on smoothed targets
  with `label_smoothing`, lib/losses.py), its gradient with
  respect to `params`, the logits and the updated model state. `model` is
  the train model: built with the CPU gradient rewrites where they are on
  (lib/models build(..., rewrites=...)). Float `labels` are soft targets,
  already smoothed and mixed (device_augment.apply_mixing)."""
  def loss_fn(params):
    logits, new_model_state = model.apply(
        {'params': params, **model_state}, images, train=train,
        rngs={'dropout': dropout_rng}, mutable=list(model_state))
    if jnp.issubdtype(labels.dtype, jnp.floating):
      loss = losses.soft_target_loss(logits, labels).mean()
    else:
      loss = losses.per_example_loss(logits, labels, label_smoothing).mean()
    return loss, (logits, dict(new_model_state))
  (loss, (logits, new_model_state)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(params)
  return loss, logits, new_model_state, grads


def make_train_step(model: nn.Module, tx: optax.GradientTransformation,
                    augmentation: device_augment.Recipe | int = 0,
                    grad_accum_steps: int = 1,
                    learning_rate: Callable | None = None,
                    label_smoothing: float = 0.0,
                    trainable: str | tuple = 'all',
                    mixing: device_augment.Mixing = device_augment.Mixing(),
                    ema_decay: float = 0.0
                    ) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
  """The step of the train model `model` (see loss_and_grads);
  `augmentation`: what the step applies to its batch on device
  (device_augment.recipe(config.data); an int is a bare random_shift);
  `learning_rate(opt_state)`, when given, is logged with its metrics;
  `label_smoothing`: config.train.label_smoothing; parameters outside
  `trainable` (train.trainable, lib/optim.py) get no gradient, and their
  modules' BatchNorm statistics stay as they were; `mixing`: mixup and
  cutmix (device_augment.mixing(config.data)), after the augmentation, from the step's
  key; `ema_decay`: config.train.ema_decay (AveragedTrainState)."""
  compute_grads = functools.partial(loss_and_grads, model,
                                    label_smoothing=label_smoothing,
                                    train=not optim.is_probe(trainable))

  def accumulated(params, model_state, images, labels, dropout_rng):
    """Same as compute_grads over the batch, run in `grad_accum_steps` slices.

    Slice j takes examples j, j+k, j+2k, ...: each device keeps its own rows,
    so slicing moves no data between devices.
    """
    k = grad_accum_steps
    split = lambda x: x.reshape(x.shape[0] // k, k, *x.shape[1:]).swapaxes(0, 1)

    def body(carry, micro):
      grads_sum, loss_sum, model_state = carry
      j, micro_images, micro_labels = micro
      loss, logits, model_state, grads = compute_grads(
          params, model_state, micro_images, micro_labels,
          jax.random.fold_in(dropout_rng, j))
      grads_sum = jax.tree.map(jnp.add, grads_sum, grads)
      return (grads_sum, loss_sum + loss, model_state), logits

    zeros = jax.tree.map(jnp.zeros_like, params)
    # XLA:CPU runs convolutions inside a loop body without its fast
    # libraries (LeNet-5 at 4 x 128: 1.9 s a step in a loop, 29 ms
    # unrolled), so on CPU the slices are unrolled; elsewhere a loop keeps
    # one slice's activations in memory at a time.
    unroll = k if jax.default_backend() == 'cpu' else 1
    (grads, loss, model_state), logits = jax.lax.scan(
        body, (zeros, 0.0, model_state),
        (jnp.arange(k), split(images), split(labels)), unroll=unroll)
    logits = logits.swapaxes(0, 1).reshape(-1, logits.shape[-1])  # Batch order.
    return loss / k, logits, model_state, jax.tree.map(lambda g: g / k, grads)

  def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    step_rng = jax.random.fold_in(state.rng, state.step)
    dropout_rng, augment_rng = jax.random.split(step_rng)
    images = device_augment.apply(batch['image'], augment_rng, augmentation)
    images, labels = pipeline.to_float(images), batch['label']
    images, targets = device_augment.apply_mixing(
        images, labels, augment_rng, mixing, model.num_outputs, label_smoothing)

    compute = compute_grads if grad_accum_steps == 1 else accumulated
    loss, logits, model_state, grads = compute(
        state.params, state.model_state, images, targets, dropout_rng)
    grads = optim.zero_frozen(grads, trainable)
    model_state = optim.keep_frozen_statistics(model_state, state.model_state,
                                               trainable)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = state.replace(step=state.step + 1,
                              params=optax.apply_updates(state.params, updates),
                              model_state=model_state, opt_state=opt_state)
    if ema_decay:
      new_state = new_state.replace(ema=update_ema(
          state.ema, new_state.params, model_state, ema_decay))
    metrics = {
        'loss': loss,
        'accuracy': losses.correct(logits, labels).mean(),
        'grad_norm': optax.global_norm(grads),
    }
    if learning_rate is not None:  # The rate this update applied.
      metrics['learning_rate'] = learning_rate(state.opt_state)
    return new_state, metrics

  return train_step


def make_step(update: Callable, pipeline_name: str, batch_size: int,
              stacked: bool, batch_sharding=None) -> Callable:
  """The loop's step, (state, inputs) -> (state, metrics), around `update`
  (make_train_step's result).

  How it takes its batch: with data.pipeline='device', `inputs` is (the
  training split on the device, this epoch's permutation) and the step
  gathers its own batch by the state's step counter (lib/data/pipeline.py
  device_batch), so data order is a function of (seed, step); with 'grain',
  `inputs` is the batch the host pipeline hands in.

  How seeds are mapped: `stacked` states carry a leading seed axis (and so
  does the permutation), and the update is vmapped over it: S seeds in one
  program, each seeing the batches and dropout masks of its own run. A
  stacked seed whose loss is not finite keeps its last finite state: it stops
  being trained while the others go on (the loop stops logging it). An
  unstacked state is one ordinary run.
  """
  device = pipeline_name == 'device'

  def one_seed(state: TrainState, inputs) -> tuple[TrainState, dict]:
    if device:
      arrays, permutation = inputs
      batch = pipeline.device_batch(arrays, state.step, None, batch_size,
                                    permutation)
      if batch_sharding is not None:
        batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
    else:
      batch = inputs
    return update(state, batch)

  if not stacked:
    return one_seed

  def frozen_once_diverged(state: TrainState, inputs):
    new_state, metrics = one_seed(state, inputs)
    finite = jnp.isfinite(metrics['loss'])
    keep = lambda new, old: jnp.where(finite, new, old)
    return jax.tree.map(keep, new_state, state), metrics

  return jax.vmap(frozen_once_diverged, in_axes=(0, (None, 0) if device else None))


def make_eval_step(model: nn.Module, stacked: bool = False
                   ) -> Callable[[TrainState, dict], dict]:
  """Sums of loss and correct predictions over a batch; per seed if stacked.
  A state with an average of the weights (AveragedTrainState) is evaluated on it,
  and on its trained weights too: raw_loss_sum and raw_correct."""

  def sums(params, model_state, batch: dict) -> dict:
    """Sums over the real (mask=1) examples; padding contributes nothing."""
    logits = model.apply({'params': params, **model_state},
                         pipeline.to_float(batch['image']), train=False)
    mask = batch['mask'].astype(jnp.float32)
    per_example = losses.per_example_loss(logits, batch['label'])
    return {
        'loss_sum': (per_example * mask).sum(),
        'correct': (losses.correct(logits, batch['label']) * mask).sum(),
        'count': mask.sum(),
    }

  def eval_step(state: TrainState, batch: dict) -> dict:
    out = sums(state.params, state.model_state, batch)
    if not isinstance(state, AveragedTrainState):
      return out
    raw = out
    out = sums(state.ema['params'], state.ema['model_state'], batch)
    return {**out, 'raw_loss_sum': raw['loss_sum'], 'raw_correct': raw['correct']}

  return jax.vmap(eval_step, in_axes=(0, None)) if stacked else eval_step
