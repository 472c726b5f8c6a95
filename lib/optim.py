"""Optimizer and learning-rate schedule from `config.optimizer`, via optax."""
import ml_collections
import optax

from lib import errors

OPTIMIZERS = ('gd', 'sgd', 'momentum', 'nesterov', 'adam', 'adamw')
SCHEDULES = ('constant', 'cosine', 'step')


def schedule(c: ml_collections.ConfigDict, total_steps: int,
             steps_per_epoch: int) -> optax.Schedule:
  lr, warmup = c.learning_rate, int(c.warmup_epochs * steps_per_epoch)
  if c.schedule == 'constant':
    main = optax.constant_schedule(lr)
  elif c.schedule == 'cosine':
    main = optax.cosine_decay_schedule(lr, max(1, total_steps - warmup))
  elif c.schedule == 'step':
    boundaries = {int(e * steps_per_epoch) - warmup: 0.1 for e in c.step_epochs}
    main = optax.piecewise_constant_schedule(lr, boundaries)
  else:
    raise errors.unknown_name('schedule', c.schedule, SCHEDULES)
  if not warmup:
    return main
  return optax.join_schedules(
      [optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def build(c: ml_collections.ConfigDict, total_steps: int,
          steps_per_epoch: int) -> optax.GradientTransformation:
  lr = schedule(c, total_steps, steps_per_epoch)
  if c.name in ('gd', 'sgd'):
    # 'gd' is the lecture's theta <- theta - lr * grad J(theta), nothing more.
    opt = optax.sgd(lr)
  elif c.name in ('momentum', 'nesterov'):
    opt = optax.sgd(lr, momentum=c.momentum, nesterov=c.name == 'nesterov')
  elif c.name == 'adam':
    opt = optax.adam(lr)
  elif c.name == 'adamw':
    return optax.adamw(lr, weight_decay=c.weight_decay)
  else:
    raise errors.unknown_name('optimizer', c.name, OPTIMIZERS)
  if c.weight_decay:
    # L2 added to the gradient (coupled decay), as in the ResNet paper.
    return optax.chain(optax.add_decayed_weights(c.weight_decay), opt)
  return opt
