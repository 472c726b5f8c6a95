"""The benchmark's models: the same network, input and optimizer for both
frameworks.

Each case names a model of the registry (`lib.models.MODELS`) with its
settings, the input it is timed on and its default batch sizes; the PyTorch
twin of each lives in experiments/bench/torch_models.py under the same name.
Every case trains with SGD + momentum 0.9 (lib.optim's 'momentum'), the
optimizer of the issue's CNN, so optimizer cost is equal on both sides.
"""
import dataclasses

import ml_collections


@dataclasses.dataclass(frozen=True)
class Case:
  name: str
  model: dict                       # lib.models config: 'name' + settings.
  image_shape: tuple[int, int, int]  # H, W, C.
  num_classes: int
  batch_sizes: tuple[int, ...]      # Defaults when --batch_sizes is not given.
  about: str

  def model_config(self) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(self.model)


MNIST, CIFAR, IMAGENET = (28, 28, 1), (32, 32, 3), (224, 224, 3)

CASES: dict[str, Case] = {c.name: c for c in [
    Case('logreg', {'name': 'logistic_regression'}, MNIST, 10, (128, 512),
         'softmax regression, 784 -> 10'),
    Case('mlp', {'name': 'mlp', 'depth': 2, 'width': 256, 'dropout': 0.0},
         MNIST, 10, (128, 512), '784 -> 256 -> 256 -> 10, relu'),
    Case('cnn', {'name': 'cnn', 'features': (32, 64), 'convs_per_block': 1,
                 'kernel_size': 3, 'dense': (256,), 'dropout': 0.0},
         MNIST, 10, (128, 512),
         'conv32-pool-conv64-pool-dense256-dense10, relu, max pool'),
    Case('lenet5', {'name': 'lenet5'}, MNIST, 10, (128, 512),
         'LeNet-5, tanh, mean pool, 28x28 padded to 32x32'),
    Case('resnet20', {'name': 'resnet20'}, CIFAR, 10, (128, 512),
         'CIFAR ResNet-20, BatchNorm, option-A shortcuts'),
    Case('alexnet', {'name': 'alexnet'}, IMAGENET, 1000, (16,),
         "torchvision's AlexNet, dropout 0.5"),
    Case('resnet50', {'name': 'resnet50'}, IMAGENET, 1000, (8,),
         'ResNet-50 v1.5, BatchNorm'),
]}

DEFAULT_MODELS = tuple(CASES)
LEARNING_RATE, MOMENTUM = 0.01, 0.9


def optimizer_config() -> ml_collections.ConfigDict:
  """lib.optim's config for SGD with momentum, constant learning rate."""
  from configs import common  # pylint: disable=g-import-not-at-top
  c = common.base_config('digits').optimizer
  c.update(dict(name='momentum', learning_rate=LEARNING_RATE, momentum=MOMENTUM,
                schedule='constant'))
  return c
