"""Optimizer and learning-rate schedule from `config.optimizer`, via optax.

The learning rate is a value in the optimizer state (optax's
inject_hyperparams), not a constant compiled into the step: one compiled
program trains any learning rate, so a study's tuned axis (lib/sweeps) and
its seeds share it (lib/multi_seed.py). The schedule's shape is compiled in.

Around the optimizer, both off by default: `grad_clip_norm` > 0 scales the
gradient down to that global norm first (optax.clip_by_global_norm), and
`weight_decay_mask='kernels'` decays only conv and dense kernels, not biases
or normalization scales and biases (optax's masks; 'all' decays everything).
`train.trainable` freezes parameters (a linear probe, partial fine-tuning):
the section at the end.
"""
from typing import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import optax

from lib import errors

OPTIMIZERS = ('gd', 'sgd', 'momentum', 'nesterov', 'adam', 'adamw')
SCHEDULES = ('constant', 'cosine', 'step')
WEIGHT_DECAY_MASKS = ('all', 'kernels')


def schedule(c: ml_collections.ConfigDict, total_steps: int,
             steps_per_epoch: int, lr=None) -> optax.Schedule:
  """The schedule peaking at `lr` (default: c.learning_rate; may be traced)."""
  lr = c.learning_rate if lr is None else lr
  warmup = int(c.warmup_epochs * steps_per_epoch)
  if c.schedule == 'constant':
    main = optax.constant_schedule(lr)
  elif c.schedule == 'cosine':
    main = optax.cosine_decay_schedule(lr, max(1, total_steps - warmup))
  elif c.schedule == 'step':
    at_steps = c.step_at_steps
    boundaries = ({int(s) - warmup: 0.1 for s in at_steps} if at_steps else
                  {int(e * steps_per_epoch) - warmup: 0.1 for e in c.step_epochs})
    main = optax.piecewise_constant_schedule(lr, boundaries)
  else:
    raise errors.unknown_name('schedule', c.schedule, SCHEDULES)
  if not warmup:
    return main
  return optax.join_schedules(
      [optax.linear_schedule(0.0, lr, warmup), main], [warmup])


LEARNING_RATE = 'learning_rate'  # Its key in the optimizer state.


def build(c: ml_collections.ConfigDict, total_steps: int,
          steps_per_epoch: int,
          trainable: str | tuple = 'all') -> optax.GradientTransformation:
  """The optimizer, its learning rate held in its state (see the top);
  parameters outside `trainable` (train.trainable, below) frozen."""
  if c.name not in OPTIMIZERS:
    raise errors.unknown_name('optimizer', c.name, OPTIMIZERS)
  if c.schedule not in SCHEDULES:
    raise errors.unknown_name('schedule', c.schedule, SCHEDULES)
  _check_regularizers(c)
  make = lambda learning_rate: _frozen_at_zero(_build(
      c, schedule(c, total_steps, steps_per_epoch, learning_rate)), trainable)
  return optax.inject_hyperparams(make)(learning_rate=c.learning_rate)


def current_learning_rate(c: ml_collections.ConfigDict, total_steps: int,
                          steps_per_epoch: int):
  """opt_state -> the learning rate its next update applies (the schedule at
  the state's update count, peaking at the state's own rate): logged by the
  train step."""
  def learning_rate(opt_state):
    peak = opt_state.hyperparams[LEARNING_RATE]
    return schedule(c, total_steps, steps_per_epoch, peak)(opt_state.count)
  return learning_rate


def with_learning_rate(opt_state, learning_rate):
  """`opt_state` (of `build`'s optimizer) set to train at `learning_rate`."""
  old = opt_state.hyperparams[LEARNING_RATE]
  return opt_state._replace(hyperparams={
      **opt_state.hyperparams,
      LEARNING_RATE: jnp.asarray(learning_rate, old.dtype).reshape(old.shape)})


def _check_regularizers(c: ml_collections.ConfigDict) -> None:
  if c.weight_decay_mask not in WEIGHT_DECAY_MASKS:
    raise errors.UserError(
        f'optimizer.weight_decay_mask={c.weight_decay_mask!r}: use one of '
        f'{", ".join(WEIGHT_DECAY_MASKS)} (kernels: no decay on biases and '
        'normalization parameters)')
  if not c.grad_clip_norm >= 0:
    raise errors.UserError(
        f'optimizer.grad_clip_norm must be >= 0 (0: no clipping); got '
        f'{c.grad_clip_norm!r}')
  if not c.weight_decay >= 0:
    raise errors.UserError(
        f'optimizer.weight_decay must be >= 0; got {c.weight_decay!r}')


def kernels(params):
  """True for conv and dense kernels (flax names every weight matrix
  'kernel'), False for biases and normalization scales and biases: what
  weight_decay_mask='kernels' decays, as big_vision's default decays only
  kernels and timm's skips biases and 1-d parameters (the "no bias decay"
  of He et al. 2019, Bag of Tricks)."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], 'key', None) == 'kernel', params)


def _build(c: ml_collections.ConfigDict, lr) -> optax.GradientTransformation:
  opt = _decayed_optimizer(c, lr)
  if c.grad_clip_norm:
    # The raw gradient, before decay and momentum (timm's and big_vision's
    # order).
    opt = optax.chain(optax.clip_by_global_norm(c.grad_clip_norm), opt)
  return opt


def _decayed_optimizer(c: ml_collections.ConfigDict, lr
                       ) -> optax.GradientTransformation:
  mask = kernels if c.weight_decay_mask == 'kernels' else None
  if c.name in ('gd', 'sgd'):
    # 'gd' is the lecture's theta <- theta - lr * grad J(theta), nothing more.
    opt = optax.sgd(lr)
  elif c.name in ('momentum', 'nesterov'):
    opt = optax.sgd(lr, momentum=c.momentum, nesterov=c.name == 'nesterov')
  elif c.name == 'adam':
    opt = optax.adam(lr)
  elif c.name == 'adamw':
    return optax.adamw(lr, weight_decay=c.weight_decay, mask=mask)
  else:
    raise errors.unknown_name('optimizer', c.name, OPTIMIZERS)
  if c.weight_decay:
    # L2 added to the gradient (coupled decay), as in the ResNet paper.
    return optax.chain(optax.add_decayed_weights(c.weight_decay, mask), opt)
  return opt


# Which parameters train: `train.trainable` = 'all' | 'head' | module names.
#
# A linear probe ('head') and full fine-tuning ('all') are two values of one
# field; a list ('stage4,head', or a tuple) trains those modules (a top-level
# name, or a path such as 'stage4_block2/b') and freezes the rest. Frozen
# parameters get optax.set_to_zero (optax.multi_transform in
# `_frozen_at_zero`, which `build` calls), so no decay or momentum moves
# them, and the train step zeroes their gradients before anything reads them
# (lib/train_step.py), so XLA drops their part of the backward pass. Their BatchNorm running statistics are
# kept as they were. With 'head' (a linear probe) the forward pass runs as in
# evaluation, as PyTorch users run a probe's frozen backbone in eval mode:
# BatchNorm normalizes by its running statistics and dropout is off, so the
# head trains on the features it is evaluated on. With a module list the
# forward pass is in train mode (a frozen BatchNorm normalizes by the batch's
# statistics, as in PyTorch's train mode; only its running statistics stay).

# The output layer of each zoo model, as the models name it.
HEAD_NAMES = ('head', 'fc8', 'output', 'linear')


def trainable_names(trainable: str | Sequence[str]) -> tuple[str, ...] | None:
  """The trained module names, 'head' unresolved; None for 'all'."""
  parts = (trainable.split(',') if isinstance(trainable, str)
           else list(trainable))
  parts = tuple(p.strip().strip('/') for p in parts if p.strip())
  if not parts:
    raise errors.UserError(
        "train.trainable is empty: use 'all', 'head' or module names "
        "separated by commas")
  return None if parts == ('all',) else parts


def is_probe(trainable: str | Sequence[str]) -> bool:
  """Only the head trains: the forward pass runs in evaluation mode."""
  return trainable_names(trainable) == ('head',)


def _path_name(path) -> str:
  return '/'.join(str(getattr(k, 'key', k)) for k in path)


def trainable_mask(trainable: str | Sequence[str], tree, check: bool = True):
  """`tree` (parameters or BatchNorm statistics) as bools: True where the
  leaf trains. `check` refuses a name that is no module of `tree`."""
  wanted = trainable_names(trainable)
  if wanted is None:
    return jax.tree.map(lambda _: True, tree)
  top = list(tree) if isinstance(tree, dict) else []
  resolved = []
  for name in wanted:
    if name == 'head':
      heads = [h for h in HEAD_NAMES if h in top]
      if heads:
        resolved.append(heads[0])
      elif check:
        raise errors.UserError(
            "train.trainable='head': the model's output layer is none of "
            f"{', '.join(HEAD_NAMES)}; name its modules: {', '.join(top)}")
    else:
      resolved.append(name)
  paths = [_path_name(p) for p, _ in jax.tree_util.tree_leaves_with_path(tree)]
  if check:
    for name in resolved:
      if not any(p == name or p.startswith(name + '/') for p in paths):
        raise errors.UserError(
            f'train.trainable: {name!r} is no module of the model; its '
            f"modules: {', '.join(top)} (or a path inside one, as "
            f"'{top[0] if top else 'module'}/...')")
  return jax.tree_util.tree_map_with_path(
      lambda p, _: any(_path_name(p) == n or _path_name(p).startswith(n + '/')
                       for n in resolved), tree)


def _frozen_at_zero(opt: optax.GradientTransformation,
                    trainable: str | Sequence[str]) -> optax.GradientTransformation:
  """`opt` on the trained parameters, zero updates on the frozen ones."""
  if trainable_names(trainable) is None:
    return opt
  labels = lambda params: jax.tree.map(
      lambda t: 'train' if t else 'frozen', trainable_mask(trainable, params))
  return optax.multi_transform({'train': opt, 'frozen': optax.set_to_zero()},
                               labels)


def zero_frozen(grads, trainable: str | Sequence[str]):
  """Gradients with the frozen leaves replaced by zeros: nothing downstream
  (the update, the logged norm) reads the frozen ones, so XLA removes the
  backward pass that only they needed."""
  if trainable_names(trainable) is None:
    return grads
  return jax.tree.map(lambda g, t: g if t else jnp.zeros_like(g), grads,
                      trainable_mask(trainable, grads))


def keep_frozen_statistics(new_model_state: dict, old_model_state: dict,
                           trainable: str | Sequence[str]) -> dict:
  """The train step's updated model state, with frozen modules' BatchNorm
  running statistics as they were."""
  if trainable_names(trainable) is None or 'batch_stats' not in new_model_state:
    return new_model_state
  keep = trainable_mask(trainable, old_model_state['batch_stats'], check=False)
  stats = jax.tree.map(lambda t, new, old: new if t else old, keep,
                       new_model_state['batch_stats'],
                       old_model_state['batch_stats'])
  return {**new_model_state, 'batch_stats': stats}
