"""Model registry: configs pick a model by `config.model.name`.

Every model is a Flax Linen module called as `model.apply(variables, images,
train=...)` on NHWC images and returning logits of shape [batch, num_outputs].
Models with dropout draw from the 'dropout' RNG stream; models with batch
normalization keep running statistics in the 'batch_stats' collection.
"""
import dataclasses
import functools
from typing import Callable

import flax.linen as nn
import ml_collections

from lib import cpu_gradients, errors
from lib.models import resnet
from lib.models.alexnet import AlexNet, AlexNetPaper
from lib.models.cnn import CNN
from lib.models.lenet import LeNet5
from lib.models.logistic import LogisticRegression
from lib.models.mlp import MLP

# config.model fields that say where the weights start (lib/pretrained.py),
# not how the model is built.
WEIGHT_FIELDS = ('init_from', 'init_exclude')

MODELS: dict[str, Callable[..., nn.Module]] = {
    'logistic_regression': LogisticRegression,
    'mlp': MLP,
    'cnn': CNN,
    # The reference zoo.
    'lenet5': LeNet5,
    'alexnet': AlexNet,              # torchvision's single tower.
    'alexnet_paper': AlexNetPaper,   # Krizhevsky et al. 2012, two towers.
    # ResNet depths: the same classes with the paper's depth settings.
    **{f'resnet{depth}': functools.partial(resnet.ResNet, block=block,
                                           stage_sizes=stages)
       for depth, (block, stages) in resnet.IMAGENET_DEPTHS.items()},
    **{f'resnet{depth}': functools.partial(resnet.CifarResNet,
                                           blocks_per_stage=n)
       for depth, n in resnet.CIFAR_DEPTHS.items()},
}


def build(model_config: ml_collections.ConfigDict, num_outputs: int,
          rewrites: frozenset[str] = frozenset(), **overrides) -> nn.Module:
  """Instantiates `model_config.name` with the other fields as its settings.

  `rewrites` (lib/cpu_gradients.resolve's names) set the fields that say how
  a train step differentiates the model (lib/layers.py's docstring); a model
  built with them and one built without share one parameter tree, so the
  trainer trains the first and evaluates the second.
  """
  settings = {k: v for k, v in dict(model_config).items()
              if k not in WEIGHT_FIELDS}
  name = settings.pop('name')
  if name not in MODELS:
    raise errors.unknown_name('model', name, MODELS)
  cls = MODELS[name]
  fields = {f.name for f in dataclasses.fields(getattr(cls, 'func', cls))}
  known = fields - {'parent', 'name'} - cpu_gradients.MODEL_FIELDS
  unknown = sorted(set(settings) - known)
  if unknown:
    raise errors.UserError(
        f"model {name!r} has no setting {unknown[0]!r}; its settings: "
        f"{', '.join(sorted(known - {'num_outputs'}))}")
  settings.update(overrides)
  settings.update({k: v for k, v in cpu_gradients.model_fields(rewrites).items()
                   if k in fields})
  return cls(num_outputs=num_outputs, **settings)
