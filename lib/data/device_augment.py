"""Augmentation that runs inside the compiled train step, on device.

Used by both pipelines (config.data.random_shift), so small in-memory
datasets get augmentation without leaving the accelerator. The randomness
comes from the step's key, so it is reproducible and resumes exactly.
"""
import jax
import jax.numpy as jnp


def random_shift(images: jax.Array, key: jax.Array, max_shift: int) -> jax.Array:
  """Translates each NHWC image by up to max_shift pixels, filling with 0."""
  if max_shift <= 0:
    return images
  n, h, w, _ = images.shape
  padded = jnp.pad(images, ((0, 0), (max_shift, max_shift),
                            (max_shift, max_shift), (0, 0)))
  offsets = jax.random.randint(key, (n, 2), 0, 2 * max_shift + 1)

  def crop(image, offset):
    return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0),
                                 (h, w, image.shape[-1]))

  return jax.vmap(crop)(padded, offsets)
