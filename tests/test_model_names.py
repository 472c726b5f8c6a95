"""The model names an entry point checks before JAX starts are the registry's."""
from lib import model_names, models


def test_the_names_checked_without_flax_are_the_registry():
  assert model_names.NAMES == set(models.MODELS), (
      'lib/model_names.py NAMES must list lib/models MODELS exactly')
