"""The training loop: data, model, optimizer, checkpoints and metrics.

`train_and_evaluate(config, workdir)` validates everything it can before it
writes anything, then resumes from the newest readable checkpoint in workdir
(if any) and trains to the configured number of steps. It stops early, with a
checkpoint, on SIGTERM (exit 0; start it again to go on), and stops without
saving when the loss stops being finite (errors.Diverged).
"""
import json
import math
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lib import checkpointing, cpu_gradients, errors, losses, metrics_writer, models, optim
from lib import parallel, preemption, progress, train_step, xla_cpu
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
    if problem := xla_cpu.check(config.train.compute_dtype):
      raise errors.UserError(problem)
    self.gradient_rewrites = cpu_gradients.resolve(config.train.fast_cpu_gradients)
    self.data = pipeline.Data(config.data, config.train.batch_size, config.seed)
    per_device = config.train.batch_size // jax.device_count()
    if config.train.grad_accum_steps < 1 or per_device % config.train.grad_accum_steps:
      raise errors.UserError(
          f'train.grad_accum_steps={config.train.grad_accum_steps} must be >= 1 '
          f'and divide the per-device batch ({per_device})')
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


def _compile_train_step(run: Run, mesh):
  """(compiled step, step_input(data_iter, step) giving its data argument for
  0-based step `step`, eval batches)."""
  config, data = run.config, run.data
  replicated, batch_sharding = parallel.replicated(mesh), parallel.batch_sharding(mesh)
  step_fn = train_step.make_train_step(run.model, run.tx, config.data.random_shift,
                                       config.train.grad_accum_steps,
                                       run.gradient_rewrites)
  if config.data.pipeline == 'device':
    # The split lives on every device; each step gathers its own batch. The
    # epoch's order is drawn once per epoch, not in every step (see
    # pipeline.device_batch).
    train_arrays = parallel.replicate(data.split_arrays('train'), mesh)
    data_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
    n = train_arrays['label'].shape[0]
    steps_per_epoch = n // config.train.batch_size
    permutation = jax.jit(lambda epoch: pipeline.epoch_permutation(data_key, epoch, n),
                          out_shardings=replicated)
    current = {}

    def device_step(state, inputs):
      arrays, perm = inputs
      batch = pipeline.device_batch(arrays, state.step, data_key,
                                    config.train.batch_size, perm)
      return step_fn(state, jax.lax.with_sharding_constraint(batch, batch_sharding))

    def device_input(_, step: int):
      epoch = step // steps_per_epoch
      if current.get('epoch') != epoch:
        current.update(epoch=epoch, perm=permutation(epoch))
      return train_arrays, current['perm']

    eval_batches = [parallel.global_batch(b, mesh) for b in data.eval_batches()]
    return (jax.jit(device_step, donate_argnums=0), device_input,
            lambda: eval_batches)
  compiled = jax.jit(step_fn, in_shardings=(replicated, batch_sharding),
                     out_shardings=(replicated, replicated), donate_argnums=0)
  return (compiled, lambda it, step: parallel.global_batch(next(it), mesh),
          lambda: (parallel.global_batch(b, mesh) for b in data.eval_batches()))


def _summarize(pending: list[tuple[int, dict]]) -> dict:
  """Means of the steps' metrics; Diverged names the first non-finite loss."""
  steps = [s for s, _ in pending]
  values = jax.device_get([m for _, m in pending])
  for step, m in zip(steps, values):
    if not np.isfinite(m['loss']):
      raise errors.Diverged(
          f"the loss became {float(m['loss'])} at step {step}; stopped without "
          'saving it (the last checkpoint is good); lower the learning rate '
          'or check the data')
  return {k: float(np.mean([m[k] for m in values])) for k in values[0]}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  run = Run(config)  # Raises UserError on bad input; nothing written yet.
  data, primary = run.data, jax.process_index() == 0
  mesh = parallel.make_mesh()

  # Init runs once: XLA's backend optimizations would cost more compile time
  # (8-20 s for a ResNet on CPU) than they could ever save.
  state = jax.jit(run.init_state, out_shardings=parallel.replicated(mesh),
                  compiler_options={'xla_backend_optimization_level': 0})()
  ckpt = checkpointing.Checkpointer(os.path.join(workdir, 'checkpoints'),
                                    config.train.keep_checkpoints)
  data_iter = data.train_iterator() if config.data.pipeline == 'grain' else None
  start, state = ckpt.restore_latest(state, data_iter)  # UserError if misfit.
  if start:
    progress.say(f'resumed from the checkpoint at step {start}')
  if primary:
    _write_json_atomic(os.path.join(workdir, 'config.json'), config.to_dict())
  writer = metrics_writer.MetricWriter(workdir, primary, resumed_at_step=start)
  compiled_step, step_input, eval_batches = _compile_train_step(run, mesh)
  eval_fn = jax.jit(train_step.make_eval_step(run.model))
  preempt = preemption.PreemptionWatch(ckpt.manager)

  meter = progress.Meter(start, run.total_steps, config.train.batch_size,
                         data.steps_per_epoch)
  pending, eval_metrics, best = [], None, 0.0
  t0 = time.time()
  try:
    for step in range(start + 1, run.total_steps + 1):
      state, metrics = compiled_step(state, step_input(data_iter, step - 1))
      pending.append((step, metrics))
      last = step == run.total_steps
      stopping = preempt.reached(step)
      saving = step % config.train.checkpoint_every_steps == 0 or last or stopping
      if step % config.train.log_every_steps == 0 or saving:
        summary = _summarize(pending)  # Checked before anything is saved.
        pending = []
        writer.write('train', step, summary)
        if primary:
          progress.say(meter.line(step, summary))
      if step % run.eval_every == 0 or last:
        eval_metrics = evaluate(eval_fn, state, eval_batches())
        best = max(best, eval_metrics['accuracy'])
        writer.write('eval', step, eval_metrics)
        if primary:
          progress.say(meter.eval_line(step, eval_metrics))
      if saving:
        ckpt.save(step, state, data_iter)
      if stopping:
        ckpt.wait()
        progress.say(f'SIGTERM: saved a checkpoint at step {step} and stopped; '
                     'run the same command again to resume')
        return {'preempted_at_step': step}
  finally:
    preempt.close()
    ckpt.close()
    writer.close()

  if eval_metrics is None:  # Resumed at the final step: evaluate once more.
    eval_metrics = evaluate(eval_fn, state, eval_batches())
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
