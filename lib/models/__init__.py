"""Model registry: configs pick a model by `config.model.name`.

Every model is a Flax Linen module called as `model.apply(variables, images,
train=...)` on NHWC images and returning logits of shape [batch, num_outputs].
Models with dropout draw from the 'dropout' RNG stream; models with batch
normalization keep running statistics in the 'batch_stats' collection.
"""
import dataclasses

import flax.linen as nn
import ml_collections

from lib import errors
from lib.models.cnn import CNN
from lib.models.logistic import LogisticRegression
from lib.models.mlp import MLP

MODELS: dict[str, type[nn.Module]] = {
    'logistic_regression': LogisticRegression,
    'mlp': MLP,
    'cnn': CNN,
}


def build(model_config: ml_collections.ConfigDict, num_outputs: int,
          **overrides) -> nn.Module:
  """Instantiates `model_config.name` with the other fields as its settings."""
  settings = dict(model_config)
  name = settings.pop('name')
  if name not in MODELS:
    raise errors.unknown_name('model', name, MODELS)
  cls = MODELS[name]
  known = {f.name for f in dataclasses.fields(cls)} - {'parent', 'name'}
  unknown = sorted(set(settings) - known)
  if unknown:
    raise errors.UserError(
        f"model {name!r} has no setting {unknown[0]!r}; its settings: "
        f"{', '.join(sorted(known - {'num_outputs'}))}")
  settings.update(overrides)
  return cls(num_outputs=num_outputs, **settings)
