"""Our side: the project's real train step on synthetic data on the device.

The step is lib.train_step.make_train_step (forward, loss, backward,
optimizer update from lib.optim, metrics), jitted with the state donated, as
the trainer runs it; the batch is uint8 images and int32 labels, as both
input pipelines deliver them, already on the device.
"""
import dataclasses
from typing import Callable

import jax
import numpy as np

from experiments.bench import cases
from lib import cpu_gradients, flops, models, optim, train_step


@dataclasses.dataclass
class JaxStep:
  run: Callable[[int], None]  # Runs k steps and waits for them.
  flops_per_step: float       # XLA's count for the whole step (as lowered).
  params: int
  compile_s: float
  hlo_text: str               # The optimized HLO XLA runs.


def synthetic_batch(batch_size: int, image_shape, num_classes: int,
                    seed: int = 0) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(seed)
  return {'image': rng.integers(0, 256, (batch_size, *image_shape), np.uint8),
          'label': rng.integers(0, num_classes, batch_size).astype(np.int32)}


def build(case: cases.Case, batch_size: int,
          compiler_options: dict | None = None,
          gradient_rewrites: frozenset[str] | None = None,
          dtype=None) -> JaxStep:
  """Compiles the step; `compiler_options` overrides XLA debug options for
  this compilation only (as XLA_FLAGS would for the whole process);
  `gradient_rewrites` defaults to what the trainer's 'auto' gives."""
  import time  # pylint: disable=g-import-not-at-top
  # dtype: the compute dtype (parameters stay float32), as train.compute_dtype.
  if gradient_rewrites is None:
    gradient_rewrites = cpu_gradients.resolve('auto')
  model = models.build(case.model_config(), case.num_classes,
                       rewrites=gradient_rewrites,
                       **({'dtype': dtype} if dtype is not None else {}))
  tx = optim.build(cases.optimizer_config(), total_steps=1, steps_per_epoch=1)
  state = jax.jit(lambda: train_step.init_state(model, tx, case.image_shape,
                                                seed=0))()
  batch = jax.device_put(synthetic_batch(batch_size, case.image_shape,
                                         case.num_classes))
  start = time.perf_counter()
  step_fn = train_step.make_train_step(model, tx)
  lowered = jax.jit(step_fn,
                    donate_argnums=0).lower(state, batch)
  compiled = (lowered.compile(compiler_options) if compiler_options
              else lowered.compile())
  compile_s = time.perf_counter() - start
  holder = {'state': state}

  def run(k: int) -> None:
    state = holder['state']
    for _ in range(k):
      state, metrics = compiled(state, batch)
    jax.block_until_ready((state, metrics))
    holder['state'] = state

  return JaxStep(run, flops.xla_flops(lowered),
                 flops.num_params(state.params), compile_s, compiled.as_text())
