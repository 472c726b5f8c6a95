"""The model registry's names (lib/models MODELS), read without importing
Flax or JAX: an entry point refuses an unknown `--config.model.name` in a
fraction of a second instead of after JAX's start-up."""
import ast
import functools
import os

from lib import errors

_REGISTRY = os.path.join(os.path.dirname(__file__), 'models', '__init__.py')


@functools.cache
def names() -> frozenset[str]:
  with open(_REGISTRY) as f:
    tree = ast.parse(f.read())
  for node in tree.body:
    if (isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict)
        and 'MODELS' in ast.unparse(node.targets[0] if isinstance(node, ast.Assign)
                                    else node.target)):
      return frozenset(ast.literal_eval(k) for k in node.value.keys)
  raise RuntimeError(f'no MODELS dict in {_REGISTRY}')


def check(name: str) -> None:
  """The same error as lib.models.build gives, before anything heavy."""
  if name not in names():
    raise errors.unknown_name('model', name, names())
