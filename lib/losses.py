"""Losses and per-example correctness for the two task kinds.

num_outputs == 1: the lecture's binary logistic task, sigmoid + binary
cross-entropy, predict 1 when the logit is positive. Otherwise softmax
cross-entropy over classes.

Label smoothing (Szegedy et al. 2016; `train.label_smoothing`, the train
loss only) trains on (1 - a) * one_hot + a / K instead of the one-hot target
(optax.smooth_labels); the one-output task smooths its 0/1 target the same
way with K = 2, as Keras's BinaryCrossentropy(label_smoothing=a) does.
"""
import jax
import jax.numpy as jnp
import optax


def per_example_loss(logits: jax.Array, labels: jax.Array,
                     label_smoothing: float = 0.0) -> jax.Array:
  logits = logits.astype(jnp.float32)  # Losses in f32 even under bf16 compute.
  a = label_smoothing
  if logits.shape[-1] == 1:
    targets = labels.astype(jnp.float32)
    if a:
      targets = targets * (1 - a) + a / 2
    return optax.sigmoid_binary_cross_entropy(logits[:, 0], targets)
  if not a:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), a)
  return optax.softmax_cross_entropy(logits, targets)


def correct(logits: jax.Array, labels: jax.Array) -> jax.Array:
  if logits.shape[-1] == 1:
    return (logits[:, 0] > 0).astype(jnp.int32) == labels
  return jnp.argmax(logits, -1) == labels


def num_outputs(num_classes: int) -> int:
  """A two-class task is trained as one sigmoid output."""
  return 1 if num_classes == 2 else num_classes


def soft_targets(labels: jax.Array, num_outputs: int,
                 label_smoothing: float = 0.0) -> jax.Array:
  """The targets per_example_loss trains on, as arrays that can be mixed
  (lib/data/device_augment.py apply_mixing): smoothed one-hot rows
  [n, num_outputs], or the smoothed 0/1 target [n] of the one-output task."""
  a = label_smoothing
  if num_outputs == 1:
    targets = labels.astype(jnp.float32)
    return targets * (1 - a) + a / 2 if a else targets
  return optax.smooth_labels(jax.nn.one_hot(labels, num_outputs), a)


def soft_target_loss(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """Per-example cross-entropy on soft targets (soft_targets' shapes)."""
  logits = logits.astype(jnp.float32)
  if logits.shape[-1] == 1:
    return optax.sigmoid_binary_cross_entropy(logits[:, 0], targets)
  return optax.softmax_cross_entropy(logits, targets)
