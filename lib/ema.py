"""An exponential moving average of the weights (`train.ema_decay`, 0: off),
as timm's ModelEmaV2 keeps it: every floating variable of the model, the
parameters and the BatchNorm statistics alike, starts at the initial
weights and after each optimizer step becomes

    ema <- decay * ema + (1 - decay) * weights.

It lives in the train state (`TrainState.ema`, saved in every checkpoint),
and evaluation uses it when on (lib/train_step.py make_eval_step), the
trained weights' figures logged beside it as raw_loss and raw_accuracy.
"""
import jax
import jax.numpy as jnp

from lib import errors


def check_decay(decay: float) -> None:
  if not 0 <= decay < 1:
    raise errors.UserError(
        f'train.ema_decay must be in [0, 1) (the weight of the average; '
        f'0: off, e.g. 0.999); got {decay!r}')


def init(params, model_state) -> dict:
  """The average at step 0: the initial weights."""
  return {'params': params, 'model_state': model_state}


def update(ema: dict, params, model_state, decay: float) -> dict:
  """One step of the average towards the weights after an update; integer
  variables (none in today's models) are copied, as timm's ModelEmaV3
  copies them."""
  def average(e, w):
    if not jnp.issubdtype(w.dtype, jnp.floating):
      return w
    return decay * e + (1 - decay) * w
  return jax.tree.map(average, ema, init(params, model_state))
