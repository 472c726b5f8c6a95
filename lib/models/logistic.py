"""Logistic regression: one affine map from pixels to class scores.

With num_outputs=1 it is the lecture's binary model, p(y=1|x) = sigmoid(x.theta),
trained with binary cross-entropy; with num_outputs=K it is multinomial
(softmax) logistic regression. The loss is chosen by the task (lib/train_step.py
per_example_loss).
"""
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class LogisticRegression(nn.Module):
  num_outputs: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train  # No dropout or batch statistics in a linear model.
    x = x.reshape((x.shape[0], -1))
    return nn.Dense(self.num_outputs, dtype=self.dtype, name='linear')(x)
