"""jaxvision: a functional JAX/Flax codebase for image classification research."""
