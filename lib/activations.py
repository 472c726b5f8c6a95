"""Activation registry: every model picks its nonlinearity here, by name.

One registry for the whole codebase, so an activation ablation reaches every
layer of every model (stems included).
"""
from typing import Callable

import jax
import jax.numpy as jnp

from lib import errors

Activation = Callable[[jax.Array], jax.Array]

ACTIVATIONS: dict[str, Activation] = {
    # The lecture's three.
    'sigmoid': jax.nn.sigmoid,
    'tanh': jnp.tanh,
    'relu': jax.nn.relu,
    # Common modern ones.
    'leaky_relu': jax.nn.leaky_relu,
    'elu': jax.nn.elu,
    'gelu': jax.nn.gelu,
    'silu': jax.nn.silu,
    'softplus': jax.nn.softplus,
    'relu6': jax.nn.relu6,
    'identity': lambda x: x,
}


# Never decreasing: max pooling commutes with these (lib/cpu_gradients'
# pool_first rewrite pools before the activation). Not gelu or silu, which
# dip below zero and back.
NON_DECREASING = frozenset({'sigmoid', 'tanh', 'relu', 'leaky_relu', 'elu',
                            'softplus', 'relu6', 'identity'})


def get(name: str) -> Activation:
  try:
    return ACTIVATIONS[name]
  except KeyError:
    raise errors.unknown_name('activation', name, ACTIVATIONS) from None
