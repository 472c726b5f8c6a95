"""Losses and per-example correctness for the two task kinds.

num_outputs == 1: the lecture's binary logistic task, sigmoid + binary
cross-entropy, predict 1 when the logit is positive. Otherwise softmax
cross-entropy over classes.
"""
import jax
import jax.numpy as jnp
import optax


def per_example_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  logits = logits.astype(jnp.float32)  # Losses in f32 even under bf16 compute.
  if logits.shape[-1] == 1:
    return optax.sigmoid_binary_cross_entropy(logits[:, 0],
                                              labels.astype(jnp.float32))
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def correct(logits: jax.Array, labels: jax.Array) -> jax.Array:
  if logits.shape[-1] == 1:
    return (logits[:, 0] > 0).astype(jnp.int32) == labels
  return jnp.argmax(logits, -1) == labels


def num_outputs(num_classes: int) -> int:
  """A two-class task is trained as one sigmoid output."""
  return 1 if num_classes == 2 else num_classes
