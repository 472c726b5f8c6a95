"""The model names an entry point checks before JAX starts are the registry's."""
from lib import model_names, models


def test_the_names_read_without_flax_are_the_registry():
  assert model_names.names() == set(models.MODELS)
