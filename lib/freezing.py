"""Which parameters train: `train.trainable` = 'all' | 'head' | module names.

A linear probe ('head') and full fine-tuning ('all') are two values of one
field; a list ('stage4,head', or a tuple) trains those modules (a top-level
name, or a path such as 'stage4_block2/b') and freezes the rest. Frozen
parameters get optax.set_to_zero (optax.multi_transform in lib/optim.py),
so no decay or momentum moves them, and the train step zeroes their
gradients before anything reads them (lib/train_step.py), so XLA drops
their part of the backward pass. Their BatchNorm running statistics are
kept as they were. With 'head' (a linear probe) the forward pass runs as in
evaluation, as PyTorch users run a probe's frozen backbone in eval mode:
BatchNorm normalizes by its running statistics and dropout is off, so the
head trains on the features it is evaluated on. With a module list the
forward pass is in train mode (a frozen BatchNorm normalizes by the batch's
statistics, as in PyTorch's train mode; only its running statistics stay).
"""
from typing import Sequence

import jax
import jax.numpy as jnp
import optax

from lib import errors

ALL = 'all'
# The output layer of each zoo model, as the models name it.
HEAD_NAMES = ('head', 'fc8', 'output', 'linear')


def names(trainable: str | Sequence[str]) -> tuple[str, ...] | None:
  """The trained module names, 'head' unresolved; None for 'all'."""
  parts = (trainable.split(',') if isinstance(trainable, str)
           else list(trainable))
  parts = tuple(p.strip().strip('/') for p in parts if p.strip())
  if not parts:
    raise errors.UserError(
        "train.trainable is empty: use 'all', 'head' or module names "
        "separated by commas")
  return None if parts == (ALL,) else parts


def probe(trainable: str | Sequence[str]) -> bool:
  """Only the head trains: the forward pass runs in evaluation mode."""
  return names(trainable) == ('head',)


def _path(path) -> str:
  return '/'.join(str(getattr(k, 'key', k)) for k in path)


def mask(trainable: str | Sequence[str], tree, check: bool = True):
  """`tree` (parameters or BatchNorm statistics) as bools: True where the
  leaf trains. `check` refuses a name that is no module of `tree`."""
  wanted = names(trainable)
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
  paths = [_path(p) for p, _ in jax.tree_util.tree_leaves_with_path(tree)]
  if check:
    for name in resolved:
      if not any(p == name or p.startswith(name + '/') for p in paths):
        raise errors.UserError(
            f'train.trainable: {name!r} is no module of the model; its '
            f"modules: {', '.join(top)} (or a path inside one, as "
            f"'{top[0] if top else 'module'}/...')")
  return jax.tree_util.tree_map_with_path(
      lambda p, _: any(_path(p) == n or _path(p).startswith(n + '/')
                       for n in resolved), tree)


def optimizer(opt: optax.GradientTransformation,
              trainable: str | Sequence[str]) -> optax.GradientTransformation:
  """`opt` on the trained parameters, zero updates on the frozen ones."""
  if names(trainable) is None:
    return opt
  labels = lambda params: jax.tree.map(
      lambda t: 'train' if t else 'frozen', mask(trainable, params))
  return optax.multi_transform({'train': opt, 'frozen': optax.set_to_zero()},
                               labels)


def zero_frozen(grads, trainable: str | Sequence[str]):
  """Gradients with the frozen leaves replaced by zeros: nothing downstream
  (the update, the logged norm) reads the frozen ones, so XLA removes the
  backward pass that only they needed."""
  if names(trainable) is None:
    return grads
  return jax.tree.map(lambda g, t: g if t else jnp.zeros_like(g), grads,
                      mask(trainable, grads))


def keep_frozen_statistics(new_model_state: dict, old_model_state: dict,
                           trainable: str | Sequence[str]) -> dict:
  """The train step's updated model state, with frozen modules' BatchNorm
  running statistics as they were."""
  if names(trainable) is None or 'batch_stats' not in new_model_state:
    return new_model_state
  keep = mask(trainable, old_model_state['batch_stats'], check=False)
  stats = jax.tree.map(lambda t, new, old: new if t else old, keep,
                       new_model_state['batch_stats'],
                       old_model_state['batch_stats'])
  return {**new_model_state, 'batch_stats': stats}
