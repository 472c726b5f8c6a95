"""The model registry's names (lib/models MODELS), importable without Flax or
JAX: an entry point refuses an unknown `--config.model.name` in a fraction
of a second instead of after JAX's start-up (importing lib.models alone takes
2-4 s on 2 cores). tests/test_model_names.py keeps this list equal to the
registry."""
from lib import errors

NAMES = frozenset({
    'logistic_regression', 'mlp', 'cnn', 'lenet5', 'alexnet', 'alexnet_paper',
    'resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152',
    'resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet110',
})


def check(name: str) -> None:
  """The same error as lib.models.build gives, before anything heavy."""
  if name not in NAMES:
    raise errors.unknown_name('model', name, NAMES)
