"""FLOP counts of jitted computations, from XLA's own cost analysis.

XLA counts what the program computes: every multiply-add of the convolutions
and dot products (2 FLOPs each) plus the elementwise work, for whatever was
jitted, e.g. a whole train step (forward, backward, optimizer). Dividing by
the batch gives the model FLOPs per example that throughput tables quote,
measured rather than derived by hand.
"""
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def xla_flops(computation: Any) -> float:
  """FLOPs of one call of `jax.jit(f).lower(...)` or of its `.compile()`.

  Prefer the lowered program: after compilation, operations that XLA hands
  to a library (oneDNN custom calls on CPU) are opaque to cost analysis and
  count 0, so the compiled count depends on flags; the lowered count is the
  model's. 0 if unknown.
  """
  analysis = computation.cost_analysis()
  if isinstance(analysis, (list, tuple)):  # Older jax: one dict per device.
    analysis = analysis[0] if analysis else {}
  return float((analysis or {}).get('flops', 0.0))


def num_params(params: Any) -> int:
  """Trainable parameters in a pytree of arrays (or ShapeDtypeStructs)."""
  return sum(math.prod(x.shape) for x in jax.tree.leaves(params))


def matmul_peak(n: int = 2048, repeats: int = 10,
                dtype: Any = jnp.float32) -> dict:
  """The machine's float32 matrix-product rate through XLA, in FLOP/s.

  Times `repeats` products of two n x n matrices after a warm-up call and
  reports the best and the median: the best is the peak the hardware gives
  when nothing else is running, the median what this run saw.
  """
  a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)), dtype)
  b = jnp.asarray(np.random.default_rng(1).standard_normal((n, n)), dtype)
  dot = jax.jit(jnp.dot)
  dot(a, b).block_until_ready()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    dot(a, b).block_until_ready()
    times.append(time.perf_counter() - start)
  flops = 2.0 * n ** 3
  return {'n': n, 'flops_per_s_best': flops / min(times),
          'flops_per_s_median': flops / float(np.median(times))}
