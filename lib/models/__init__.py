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
from lib.models import resnet
from lib.models.alexnet import AlexNet, AlexNetPaper
from lib.models.cnn import CNN
from lib.models.lenet import LeNet5
from lib.models.logistic import LogisticRegression
from lib.models.mlp import MLP

MODELS: dict[str, type[nn.Module]] = {
    'logistic_regression': LogisticRegression,
    'mlp': MLP,
    'cnn': CNN,
    # The reference zoo. Each depth is a subclass that only changes defaults,
    # so its settings are still the class's dataclass fields.
    'lenet5': LeNet5,
    'alexnet': AlexNet,              # torchvision's single tower.
    'alexnet_paper': AlexNetPaper,   # Krizhevsky et al. 2012, two towers.
    'resnet18': resnet.ResNet18,
    'resnet34': resnet.ResNet34,
    'resnet50': resnet.ResNet50,
    'resnet101': resnet.ResNet101,
    'resnet152': resnet.ResNet152,
    'resnet20': resnet.ResNet20,     # CIFAR ResNets, depth 6n+2.
    'resnet32': resnet.ResNet32,
    'resnet44': resnet.ResNet44,
    'resnet56': resnet.ResNet56,
    'resnet110': resnet.ResNet110,
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
