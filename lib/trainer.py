"""The training loop: data, model, optimizer, checkpoints and metrics.

`train_and_evaluate(config, workdir)` validates everything it can before it
writes anything, then resumes from the latest checkpoint in workdir (if any)
and trains to the configured number of steps.
"""
import json
import math
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lib import checkpointing, errors, losses, metrics_writer, models, optim
from lib import parallel, progress, train_step
from lib.data import pipeline

COMPUTE_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}
RESULTS_FILE = 'results.json'


class Run:
  """Everything derived from a config, built and checked before any write."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    if config.train.compute_dtype not in COMPUTE_DTYPES:
      raise errors.unknown_name('compute_dtype', config.train.compute_dtype,
                                COMPUTE_DTYPES)
    self.data = pipeline.Data(config.data, config.train.batch_size, config.seed)
    spec = self.data.spec
    self.model = models.build(
        config.model, losses.num_outputs(spec.num_classes),
        dtype=COMPUTE_DTYPES[config.train.compute_dtype])
    steps_per_epoch = self.data.steps_per_epoch
    self.total_steps = config.train.num_steps or math.ceil(
        config.train.num_epochs * steps_per_epoch)
    if self.total_steps <= 0:
      raise errors.UserError(
          'the run has no steps: set --config.train.num_epochs or num_steps > 0')
    self.tx = optim.build(config.optimizer, self.total_steps, steps_per_epoch)
    self.eval_every = max(1, round(config.train.eval_every_epochs * steps_per_epoch))
    # Tracing init shape-only surfaces bad model settings (an unknown
    # activation or pooling name) here, not after the workdir exists.
    self.abstract_state = jax.eval_shape(self.init_state)

  def init_state(self) -> train_step.TrainState:
    return train_step.init_state(self.model, self.tx, self.data.spec.image_shape,
                                 self.config.seed)


def _write_json_atomic(path: str, obj) -> None:
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2)
  os.replace(tmp, path)


def evaluate(eval_fn, state, batches) -> dict:
  sums = None
  for batch in batches:
    out = eval_fn(state, batch)
    sums = out if sums is None else jax.tree.map(jnp.add, sums, out)
  sums = jax.device_get(sums)
  return {'loss': float(sums['loss_sum'] / sums['count']),
          'accuracy': float(sums['correct'] / sums['count'])}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  run = Run(config)  # Raises UserError on bad input; nothing written yet.
  data, primary = run.data, jax.process_index() == 0
  mesh = parallel.make_mesh()
  replicated, batch_sharding = parallel.replicated(mesh), parallel.batch_sharding(mesh)

  os.makedirs(workdir, exist_ok=True)
  if primary:
    _write_json_atomic(os.path.join(workdir, 'config.json'), config.to_dict())

  state = jax.jit(run.init_state, out_shardings=replicated)()
  ckpt = checkpointing.Checkpointer(os.path.join(workdir, 'checkpoints'),
                                    config.train.keep_checkpoints)
  data_iter = data.train_iterator() if config.data.pipeline == 'grain' else None
  start = ckpt.latest_step() or 0
  if start:
    state = ckpt.restore(start, state, data_iter)
    progress.say(f'resumed from the checkpoint at step {start}')
  writer = metrics_writer.MetricWriter(workdir, primary, resumed_at_step=start)

  step_fn = train_step.make_train_step(run.model, run.tx,
                                       config.data.random_shift)
  if config.data.pipeline == 'device':
    # The split lives on every device; each step gathers its own batch.
    train_arrays = parallel.replicate(data.split_arrays('train'), mesh)
    data_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
    batch_size = config.train.batch_size

    def device_step(state, arrays):
      batch = pipeline.device_batch(arrays, state.step, data_key, batch_size)
      batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
      return step_fn(state, batch)

    compiled_step = jax.jit(device_step, donate_argnums=0)
    next_batch = lambda: train_arrays
    eval_batches = [parallel.global_batch(b, mesh) for b in data.eval_batches()]
    get_eval_batches = lambda: eval_batches
  else:
    compiled_step = jax.jit(step_fn, in_shardings=(replicated, batch_sharding),
                            out_shardings=(replicated, replicated),
                            donate_argnums=0)
    next_batch = lambda: parallel.global_batch(next(data_iter), mesh)
    get_eval_batches = lambda: (parallel.global_batch(b, mesh)
                                for b in data.eval_batches())
  eval_fn = jax.jit(train_step.make_eval_step(run.model))

  meter = progress.Meter(start, run.total_steps, config.train.batch_size,
                         data.steps_per_epoch)
  pending, eval_metrics, best = [], None, 0.0
  t0 = time.time()
  for step in range(start + 1, run.total_steps + 1):
    state, metrics = compiled_step(state, next_batch())
    pending.append(metrics)
    last = step == run.total_steps
    if step % config.train.log_every_steps == 0 or last:
      summary = {k: float(np.mean(v)) for k, v in
                 jax.device_get(jax.tree.map(lambda *x: jnp.stack(x), *pending)).items()}
      pending = []
      writer.write('train', step, summary)
      if primary:
        progress.say(meter.line(step, summary))
    if step % run.eval_every == 0 or last:
      eval_metrics = evaluate(eval_fn, state, get_eval_batches())
      best = max(best, eval_metrics['accuracy'])
      writer.write('eval', step, eval_metrics)
      if primary:
        progress.say(meter.eval_line(step, eval_metrics))
    if step % config.train.checkpoint_every_steps == 0 or last:
      ckpt.save(step, state, data_iter)
  ckpt.close()
  writer.close()

  if eval_metrics is None:  # Resumed at the final step: evaluate once more.
    eval_metrics = evaluate(eval_fn, state, get_eval_batches())
  results = {
      'dataset': config.data.name, 'model': config.model.name,
      'seed': config.seed, 'steps': run.total_steps,
      'eval_split': config.data.eval_split,
      'eval_accuracy': eval_metrics['accuracy'], 'eval_loss': eval_metrics['loss'],
      'best_eval_accuracy': max(best, eval_metrics['accuracy']),
      'train_seconds_this_session': time.time() - t0,
      'devices': jax.device_count(), 'processes': jax.process_count(),
  }
  if primary:
    _write_json_atomic(os.path.join(workdir, RESULTS_FILE), results)
    progress.say(f"{config.data.eval_split} accuracy: "
                 f"{100 * results['eval_accuracy']:.2f}% "
                 f"(loss {results['eval_loss']:.4f}); run directory: "
                 f"{os.path.abspath(workdir)}")
  return results
