"""Several seeds of one config trained by one compiled, vmapped program.

The train state is stacked along a leading seed axis and the existing train
step (lib/train_step) is vmapped over it, together with each seed's data key,
so every seed sees exactly the batches and dropout masks of its own
sequential run (same values, to float tolerance), while start-up, data
loading and compilation are paid once per group instead of once per run.

`seeds_per_program` splits a group into chunks trained one after another by
the same compiled program (it only sees the chunk size): all seeds at once
where the accelerator has room; 1 where vmap does not pay, e.g. XLA:CPU turns
vmapped convolutions into grouped convolutions, which it runs slower than
the separate ones (see experiments/bench/sweep_speedup.py).

Every seed still gets its own workdir with config.json, metrics.jsonl and
results.json in the formats of lib/trainer.py; each chunk's stacked state is
checkpointed under the group's directory, so an interrupted group resumes.
Only the on-device pipeline is supported (grain iterators are per run).
"""
import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lib import checkpointing, errors, metrics_writer, preemption, progress
from lib import train_step, trainer
from lib.data import pipeline
from lib.sweeps import train_split


class Preempted(Exception):
  """SIGTERM arrived; a checkpoint was saved at this step. Run again to go on."""


def _check_same_but_seed(configs: list[ml_collections.ConfigDict]) -> None:
  def without_seed(c):
    d = c.to_dict()
    d.pop('seed')
    return d
  first = without_seed(configs[0])
  if any(without_seed(c) != first for c in configs[1:]):
    raise errors.UserError('multi_seed: the configs must differ only in seed')
  if len({c.seed for c in configs}) != len(configs):
    raise errors.UserError('multi_seed: every config needs its own seed')
  if configs[0].data.pipeline != 'device':
    raise errors.UserError(
        "multi_seed trains seeds jointly only with data.pipeline='device'")
  if jax.process_count() > 1:
    raise errors.UserError('multi_seed runs in a single process')


def default_seeds_per_program() -> int:
  """All seeds in one program on accelerators; one at a time on CPU."""
  return 0 if jax.default_backend() != 'cpu' else 1


def _write_json_atomic(path: str, obj) -> None:
  tmp = f'{path}.tmp{os.getpid()}'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2)
  os.replace(tmp, path)


def _evaluate(eval_fn, state, batches) -> dict[str, np.ndarray]:
  """Per-seed loss and accuracy, each of shape [S]."""
  sums = None
  for batch in batches:
    out = eval_fn(state, batch)
    sums = out if sums is None else jax.tree.map(jnp.add, sums, out)
  sums = jax.device_get(sums)
  return {'loss': sums['loss_sum'] / sums['count'],
          'accuracy': sums['correct'] / sums['count']}


def _pick(metrics: dict[str, np.ndarray], i: int) -> dict[str, float]:
  return {k: float(v[i]) for k, v in metrics.items()}


class _Program:
  """What all chunks of a group share: the run, the data, the compiled steps."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.run = run = trainer.Run(config)  # Validates; nothing written yet.
    shape, batch_size = run.data.spec.image_shape, config.train.batch_size
    step_fn = train_step.make_train_step(run.model, run.tx, config.data.random_shift,
                                         config.train.grad_accum_steps,
                                         run.gradient_rewrites)

    def one_seed_step(state, key, perm, arrays):
      return step_fn(state, pipeline.device_batch(arrays, state.step, key,
                                                  batch_size, perm))

    self.init = jax.jit(jax.vmap(
        lambda s: train_step.init_state(run.model, run.tx, shape, s)))
    # Each seed's data order comes from its own key, as in lib/trainer.py.
    self.data_keys = jax.jit(jax.vmap(
        lambda s: jax.random.fold_in(jax.random.PRNGKey(s), 1)))
    self.step = jax.jit(jax.vmap(one_seed_step, in_axes=(0, 0, 0, None)),
                        donate_argnums=0)
    # Each epoch's order is drawn once per epoch, not in every step, as in
    # lib/trainer.py (see pipeline.device_batch).
    n = run.data.spec.num_train
    self.steps_per_epoch = n // batch_size
    self.permutations = jax.jit(jax.vmap(
        lambda key, epoch: pipeline.epoch_permutation(key, epoch, n),
        in_axes=(0, None)))
    self.eval = jax.jit(jax.vmap(train_step.make_eval_step(run.model),
                                 in_axes=(0, None)))
    self.train_arrays = jax.device_put(run.data.split_arrays('train'))
    self.eval_batches = [jax.device_put(b) for b in run.data.eval_batches()]
    # The training split in inference mode (no dropout, no augmentation), for
    # a train/test gap that measures fit rather than the regularizer's noise.
    self.train_eval_batches = [jax.device_put(b) for b in
                               train_split.as_eval_data(config).eval_batches()]


class _Logs:
  """Per-seed metric writers; a seed whose loss stops being finite is
  recorded as diverged and written no more (the others go on)."""

  def __init__(self, workdirs: list[str], start: int):
    self.writers = [metrics_writer.MetricWriter(w, resumed_at_step=start)
                    for w in workdirs]
    self.diverged: dict[int, errors.Diverged] = {}

  def train(self, pending: list[tuple[int, dict]]) -> None:
    steps = [s for s, _ in pending]
    values = jax.device_get([m for _, m in pending])  # Each metric: [S].
    losses = np.stack([m['loss'] for m in values])     # [steps, S]
    summary = {k: np.mean([m[k] for m in values], axis=0) for k in values[0]}
    for i, w in enumerate(self.writers):
      if i in self.diverged:
        continue
      bad = np.flatnonzero(~np.isfinite(losses[:, i]))
      if bad.size:
        self.diverged[i] = errors.Diverged(
            f'the loss became {float(losses[bad[0], i])} at step {steps[bad[0]]}; '
            'lower the learning rate or check the data')
        continue
      w.write('train', steps[-1], _pick(summary, i))

  def eval(self, step: int, metrics: dict[str, np.ndarray], split='eval') -> None:
    for i, w in enumerate(self.writers):
      if i not in self.diverged:
        w.write(split, step, _pick(metrics, i))

  def close(self):
    for w in self.writers:
      w.close()


def _train_chunk(p: _Program, configs, workdirs, ckpt_dir: str) -> list:
  config, run, num = p.config, p.run, len(configs)
  seeds = jnp.asarray([c.seed for c in configs], jnp.int32)
  state = p.init(seeds)
  ckpt = checkpointing.Checkpointer(ckpt_dir, config.train.keep_checkpoints)
  start, state = ckpt.restore_latest(state, None)
  if start:
    progress.say(f'resumed {num} seed(s) from the checkpoint at step {start}')
  for c, w in zip(configs, workdirs):
    os.makedirs(w, exist_ok=True)
    _write_json_atomic(os.path.join(w, 'config.json'), c.to_dict())
  logs = _Logs(workdirs, start)
  data_keys = p.data_keys(seeds)
  preempt = preemption.PreemptionWatch(ckpt.manager)

  pending, eval_metrics, best = [], None, np.zeros(num)
  perms, perm_epoch = None, None
  t0 = time.time()
  try:
    for step in range(start + 1, run.total_steps + 1):
      epoch = (step - 1) // p.steps_per_epoch
      if epoch != perm_epoch:
        perms, perm_epoch = p.permutations(data_keys, epoch), epoch
      state, metrics = p.step(state, data_keys, perms, p.train_arrays)
      pending.append((step, metrics))
      last = step == run.total_steps
      stopping = preempt.reached(step)
      saving = step % config.train.checkpoint_every_steps == 0 or last or stopping
      if step % config.train.log_every_steps == 0 or saving:
        logs.train(pending)
        pending = []
      if step % run.eval_every == 0 or last:
        eval_metrics = _evaluate(p.eval, state, p.eval_batches)
        best = np.maximum(best, eval_metrics['accuracy'])
        logs.eval(step, eval_metrics)
      if saving:
        ckpt.save(step, state, None)
      if stopping:
        ckpt.wait()
        raise Preempted(step)
    if eval_metrics is None:  # Resumed at the final step: evaluate once more.
      eval_metrics = _evaluate(p.eval, state, p.eval_batches)
    logs.eval(run.total_steps, _evaluate(p.eval, state, p.train_eval_batches),
              train_split.SPLIT)
  finally:
    preempt.close()
    ckpt.close()
    logs.close()

  seconds = time.time() - t0
  results = []
  for i, (c, w) in enumerate(zip(configs, workdirs)):
    if i in logs.diverged:
      results.append(logs.diverged[i])
      continue
    r = {
        'dataset': c.data.name, 'model': c.model.name, 'seed': int(c.seed),
        'steps': run.total_steps, 'eval_split': c.data.eval_split,
        'eval_accuracy': float(eval_metrics['accuracy'][i]),
        'eval_loss': float(eval_metrics['loss'][i]),
        'best_eval_accuracy': float(max(best[i], eval_metrics['accuracy'][i])),
        'train_seconds_this_session': seconds,
        'devices': jax.device_count(), 'processes': jax.process_count(),
        'seeds_in_program': num,  # The seconds above were shared by this many runs.
    }
    _write_json_atomic(os.path.join(w, trainer.RESULTS_FILE), r)
    results.append(r)
  acc = 100 * eval_metrics['accuracy']
  progress.say(f"  seed(s) {', '.join(str(int(s)) for s in seeds)}: "
               f"{config.data.eval_split} accuracy "
               f"{', '.join(f'{a:.2f}%' for a in acc)} ({seconds:.1f} s)")
  return results


def train_and_evaluate(configs: list[ml_collections.ConfigDict],
                       workdirs: list[str], group_dir: str,
                       seeds_per_program: int = 0) -> list:
  """Trains configs[i] (identical but for the seed) into workdirs[i].

  Seeds go through one compiled program in chunks of `seeds_per_program`
  (0: all at once). Chunk checkpoints live in group_dir/checkpoints/.
  Returns, per seed, lib/trainer.py's results dict, or the errors.Diverged
  of a seed whose loss stopped being finite (it gets no results.json).
  Raises Preempted after saving a checkpoint on SIGTERM.
  """
  _check_same_but_seed(configs)
  program = _Program(configs[0])
  size = seeds_per_program or len(configs)
  results = []
  for lo in range(0, len(configs), size):
    chunk, dirs = configs[lo:lo + size], workdirs[lo:lo + size]
    name = 'seed=' + ','.join(str(c.seed) for c in chunk)
    results += _train_chunk(program, chunk, dirs,
                            os.path.join(group_dir, 'checkpoints', name))
  return results
