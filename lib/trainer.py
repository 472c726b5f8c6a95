"""The training loop: the one every kind of run goes through.

`train(program, configs, workdirs, checkpoint_dir)` trains S >= 1 seeds of
one config. An ordinary run is one seed with an unstacked state, over every
device of every process; a seed group (lib/multi_seed.py, the sweeps) is a
stacked state that one vmapped program steps (lib/train_step.py make_step).
In order: init, resume from the newest readable checkpoint, then each step:
its inputs, the step, logging, evaluation, checkpointing, SIGTERM or
Ctrl-C (a checkpoint, then Preempted: start it again to go on); at the end the final
evaluations and results. A seed whose loss stops being finite is not logged
again: an ordinary run stops there without saving it (errors.Diverged); a
seed of a group is reported as diverged while the others go on.

`train_and_evaluate(config, workdir)` is the ordinary run: `Run` validates
everything it can before anything is written, then the loop runs.
"""
import json
import math
import os
import shlex
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lib import checkpoint_schedule, checkpointing, config_history
from lib import cpu_gradients, errors, flops, losses
from lib import metrics_writer, models, optim
from lib import parallel, preemption, progress, provenance, run_lock, train_step
from lib import xla_cpu
from lib.data import pipeline

COMPUTE_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}
RESULTS_FILE = 'results.json'


class Run:
  """Everything derived from a config, built and checked before any write."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    _check_values(config)
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
    # One parameter tree, two models: the train step differentiates the one
    # built with the CPU gradient rewrites; init and evaluation use the plain one.
    num_outputs = losses.num_outputs(spec.num_classes)
    dtype = COMPUTE_DTYPES[config.train.compute_dtype]
    self.model = models.build(config.model, num_outputs, dtype=dtype)
    self.train_model = models.build(config.model, num_outputs, dtype=dtype,
                                    rewrites=self.gradient_rewrites)
    steps_per_epoch = self.data.steps_per_epoch
    self.total_steps = config.train.num_steps or math.ceil(
        config.train.num_epochs * steps_per_epoch)
    if self.total_steps <= 0:
      raise errors.UserError(
          'the run has no steps: set --config.train.num_epochs or num_steps > 0')
    self.tx = optim.build(config.optimizer, self.total_steps, steps_per_epoch)
    self.learning_rate = optim.current_learning_rate(
        config.optimizer, self.total_steps, steps_per_epoch)
    self.eval_every = max(1, round(config.train.eval_every_epochs * steps_per_epoch))
    self.checkpoint_every = checkpoint_schedule.every_steps(
        config.train.checkpoint_every_steps, self.total_steps)
    # Tracing init shape-only surfaces bad model settings (an unknown
    # activation or pooling name, features=abc) here, not after the workdir
    # exists.
    try:
      self.abstract_state = jax.eval_shape(self.init_state)
    except (TypeError, ValueError) as e:
      first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      raise errors.UserError(
          f'model {config.model.name!r} does not build with these settings '
          f'({first}); check the --config.model.* values against '
          f'{_model_values(config)}') from e  # The cause stays for library use.

  def init_state(self) -> train_step.TrainState:
    return train_step.init_state(self.model, self.tx, self.data.spec.image_shape,
                                 self.config.seed)


def _check_values(config: ml_collections.ConfigDict) -> None:
  """Values that would train nonsense or crash mid-run: one line each."""
  train, opt = config.train, config.optimizer
  checks = [
      (train.batch_size >= 1, 'train.batch_size must be >= 1'),
      (opt.learning_rate >= 0, 'optimizer.learning_rate must be >= 0'),
      (train.keep_checkpoints >= 1,
       'train.keep_checkpoints must be >= 1 (0 would keep no checkpoint)'),
      (train.checkpoint_every_steps >= 0,
       'train.checkpoint_every_steps must be >= 0 (0: a tenth of the run)'),
      (train.checkpoint_every_minutes >= 0,
       'train.checkpoint_every_minutes must be >= 0 (0: by steps only)'),
      (train.log_every_steps >= 1, 'train.log_every_steps must be >= 1'),
      (train.eval_every_epochs > 0, 'train.eval_every_epochs must be > 0'),
      (train.num_steps >= 0 and train.num_epochs >= 0,
       'train.num_steps and train.num_epochs must be >= 0'),
  ]
  if 'dropout' in config.model:
    checks.append((0 <= config.model.dropout < 1,
                   'model.dropout must be in [0, 1) (the fraction dropped)'))
  for ok, message in checks:
    if not ok:
      raise errors.UserError(f'{message}; got the config\'s value: '
                             f'{_value_in(config, message.split()[0])!r}')


def _model_values(config) -> str:
  return ', '.join(f'{k}={v!r}' for k, v in config.model.items())


def _value_in(config, dotted: str):
  for part in dotted.split('.'):
    config = config[part]
  return config


def model_line(run: Run) -> str:
  """The model's size as a run starts: its parameters, and its forward
  pass's FLOPs per example as XLA counts the lowered plain model."""
  state = run.abstract_state
  image = jax.ShapeDtypeStruct((1, *run.data.spec.image_shape), jnp.float32)
  forward = jax.jit(lambda v, x: run.model.apply(v, x, train=False)).lower(
      {'params': state.params, **state.model_state}, image)
  count = flops.xla_flops(forward)
  scale, unit = next(((10.0**e, u) for e, u in ((9, 'G'), (6, 'M'), (3, 'k'))
                      if count >= 10.0**e), (1.0, ''))
  return (f'model {run.config.model.name}: '
          f'{flops.num_params(state.params):,} parameters, '
          f'{count / scale:.3g} {unit}FLOPs per example (forward)')


class Preempted(Exception):
  """SIGTERM or Ctrl-C arrived; a checkpoint was saved at this step (args:
  the step, the signal's name). Run again to go on."""

  @property
  def step(self) -> int:
    return self.args[0]

  @property
  def signal(self) -> str:
    return self.args[1] if len(self.args) > 1 else 'SIGTERM'

  def line(self, workdir: str) -> str:
    """What the entry point says when it stops. The workdir is named:
    `./launch.sh train` without one makes a new one each time."""
    what = 'Ctrl-C' if self.signal == 'SIGINT' else self.signal
    return (f'{what}: saved a checkpoint at step {self.step} and stopped; '
            'run the same command again to resume (with '
            f'{shlex.quote(f"--workdir={workdir}")})')


def write_json_atomic(path: str, obj) -> None:
  """Never a half-written file: a reader sees the old or the new one."""
  tmp = f'{path}.tmp{os.getpid()}'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2)
  os.replace(tmp, path)


def evaluate(eval_fn, state, batches) -> dict:
  """Mean loss and accuracy over `batches`: floats, or arrays [S] if stacked."""
  sums = None
  for batch in batches:
    out = eval_fn(state, batch)
    sums = out if sums is None else jax.tree.map(jnp.add, sums, out)
  sums = jax.device_get(sums)
  loss, accuracy = sums['loss_sum'] / sums['count'], sums['correct'] / sums['count']
  if np.ndim(loss) == 0:
    return {'loss': float(loss), 'accuracy': float(accuracy)}
  return {'loss': loss, 'accuracy': accuracy}


class Program:
  """What every seed trained with one config shares, compiled once: the init,
  the step, the epoch permutation and the eval step. `stacked` states carry a
  leading seed axis (one process, its default device); unstacked ones are an
  ordinary run, replicated over the mesh with the batch sharded over it."""

  def __init__(self, run: Run, stacked: bool, mesh=None):
    config, data = run.config, run.data
    self.run, self.stacked, self.mesh = run, stacked, mesh
    self.device = config.data.pipeline == 'device'
    batch_size = config.train.batch_size
    replicated = parallel.replicated(mesh) if mesh else None
    batch_sharding = parallel.batch_sharding(mesh) if mesh else None
    self._place = ((lambda b: parallel.global_batch(b, mesh)) if mesh
                   else jax.device_put)

    # Init runs once: XLA's backend optimizations would cost more compile
    # time (8-20 s for a ResNet on CPU) than they could ever save.
    # The learning rate is a value in the state (lib/optim.py): one program
    # trains every learning rate of a study's tuned axis.
    def init(seed, learning_rate):
      state = train_step.init_state(run.model, run.tx, data.spec.image_shape, seed)
      return state.replace(
          opt_state=optim.with_learning_rate(state.opt_state, learning_rate))
    compiled_init = jax.jit(jax.vmap(init) if stacked else init,
                            out_shardings=replicated,
                            compiler_options={'xla_backend_optimization_level': 0})

    def init_with_rate(seed, learning_rate=None):
      """The fresh state of seed(s); the learning rate(s) default to the config's."""
      if learning_rate is None:
        rate = float(config.optimizer.learning_rate)
        learning_rate = jnp.full(jnp.shape(seed), rate, jnp.float32) if stacked else rate
      return compiled_init(seed, learning_rate)
    self.init = init_with_rate
    update = train_step.make_train_step(
        run.train_model, run.tx, config.data.random_shift,
        config.train.grad_accum_steps, run.learning_rate)
    step = train_step.make_step(update, config.data.pipeline, batch_size,
                                stacked, batch_sharding)
    if self.device:
      # The split lives on every device; each step gathers its own batch.
      # Each epoch's order is drawn once per epoch, not in every step (see
      # pipeline.device_batch), from the seed's own data key.
      arrays = data.split_arrays('train')
      self.train_arrays = (parallel.replicate(arrays, mesh) if mesh
                           else jax.device_put(arrays))
      n = self.train_arrays['label'].shape[0]
      self.steps_per_epoch = n // batch_size

      def permutation(seed, epoch):
        key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
        return pipeline.epoch_permutation(key, epoch, n)
      self.permutation = jax.jit(
          jax.vmap(permutation, in_axes=(0, None)) if stacked else permutation,
          out_shardings=replicated)
      self.step = jax.jit(step, donate_argnums=0)
      placed = {}  # Each role's batches, placed on first use: the test
      # split's only after the last step (tests/test_validation.py).

      def eval_batches(role):
        if role not in placed:
          placed[role] = [self._place(b) for b in data.eval_batches(role)]
        return placed[role]
      self.eval_batches = eval_batches
    else:
      self.step = jax.jit(step, in_shardings=(replicated, batch_sharding),
                          out_shardings=(replicated, replicated),
                          donate_argnums=0)
      self.eval_batches = lambda role: (self._place(b)
                                        for b in data.eval_batches(role))
    self.eval = jax.jit(train_step.make_eval_step(run.model, stacked))

  @property
  def selection_role(self) -> str:
    """What is evaluated while training (and chosen on): validation data
    where the config has some, else (as before validation) the test split."""
    return 'validation' if self.run.data.has_validation else 'test'

  def host_batch(self, batch: dict) -> dict:
    """A batch of the host pipeline, as the step takes it."""
    return self._place(batch)

  def train_split_batches(self):
    """The training examples (validation ones excluded) as evaluation
    batches (inference mode)."""
    return (self._place(b) for b in self.run.data.eval_batches('train'))


class _Records:
  """Per-seed metrics, progress lines and divergence. Metrics arrive as
  arrays [S] from a stacked program and as scalars from an ordinary run;
  both are handled as [S]."""

  def __init__(self, program: Program, workdirs: Sequence[str], start: int,
               primary: bool):
    run = program.run
    self.stacked, self.primary = program.stacked, primary
    self.writers = [metrics_writer.MetricWriter(w, primary, resumed_at_step=start)
                    for w in workdirs]
    self.diverged: dict[int, errors.Diverged] = {}
    self.meter = progress.Meter(start, run.total_steps,
                                run.config.train.batch_size,
                                run.data.steps_per_epoch)

  def train(self, pending: list[tuple[int, dict]]) -> None:
    """Logs the means since the last log. A non-finite loss is divergence,
    found here before anything of that step is saved."""
    steps = [s for s, _ in pending]
    values = [{k: np.atleast_1d(v) for k, v in m.items()}
              for m in jax.device_get([m for _, m in pending])]
    loss = np.stack([m['loss'] for m in values])  # [steps, S]
    summary = {k: np.mean([m[k] for m in values], axis=0) for k in values[0]}
    summary['learning_rate'] = values[-1]['learning_rate']  # At the logged step.
    for i, w in enumerate(self.writers):
      if i in self.diverged:
        continue
      bad = np.flatnonzero(~np.isfinite(loss[:, i]))
      if bad.size:
        what = f'the loss became {float(loss[bad[0], i])} at step {steps[bad[0]]}; '
        if not self.stacked:
          raise errors.Diverged(
              what + 'stopped without saving it (the last checkpoint is good); '
              'lower the learning rate or check the data')
        self.diverged[i] = errors.Diverged(
            what + 'lower the learning rate or check the data')
        continue
      w.write('train', steps[-1], {k: v[i] for k, v in summary.items()})
    if not self.stacked and self.primary:
      progress.say(self.meter.line(steps[-1], {k: v[0] for k, v in summary.items()}))

  def best_so_far(self, start: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Each seed's best logged `split` accuracy up to step `start` (0 if
    none) and its first step (0 if none)."""
    best, at = [], []
    for w in self.writers:
      logged = [(m['accuracy'], -m['step']) for m in metrics_writer.read(w.workdir)
                if w.enabled and m['split'] == split and m['step'] <= start]
      accuracy, minus_step = max(logged, default=(0.0, 0))
      best.append(accuracy)
      at.append(-minus_step)
    return np.array(best), np.array(at)

  def eval(self, step: int, metrics: dict, split: str = 'eval') -> None:
    for i, w in enumerate(self.writers):
      if i not in self.diverged:
        w.write(split, step, {k: np.atleast_1d(v)[i] for k, v in metrics.items()})
    if not self.stacked and self.primary and split != TRAIN_EVAL_SPLIT:
      progress.say(self.meter.eval_line(step, metrics, split))

  def close(self):
    for w in self.writers:
      w.close()


TRAIN_EVAL_SPLIT = 'train_eval'
# metrics.jsonl's split names: evaluations while training are 'validation'
# where the config has validation data, else 'eval' (the test split, as
# before validation existed); the test split at the end is 'test'.
VALIDATION_SPLIT, EVAL_SPLIT, TEST_SPLIT = 'validation', 'eval', 'test'


def train(program: Program, configs: Sequence[ml_collections.ConfigDict],
          workdirs: Sequence[str], checkpoint_dir: str,
          evaluate_train_split: bool = False,
          allow_config_change: bool = False) -> list:
  """`_train` with every workdir locked (lib/run_lock.py) while it runs."""
  locks = ([run_lock.RunLock(w) for w in workdirs]
           if jax.process_index() == 0 else [])
  try:
    return _train(program, configs, workdirs, checkpoint_dir,
                  evaluate_train_split, allow_config_change)
  finally:
    for lock in locks:
      lock.release()


def _train(program: Program, configs: Sequence[ml_collections.ConfigDict],
           workdirs: Sequence[str], checkpoint_dir: str,
           evaluate_train_split: bool = False,
           allow_config_change: bool = False) -> list:
  """Trains configs[i] (the program's config with its own seed) into
  workdirs[i], checkpointing into checkpoint_dir.

  Returns, per seed, its results dict (also written to results.json), or,
  for a seed of a stacked program whose loss stopped being finite, its
  errors.Diverged (it gets no results.json). Raises errors.Diverged for an
  ordinary run, Preempted after saving a checkpoint on SIGTERM.
  `evaluate_train_split` adds the training split in inference mode (no
  dropout, no augmentation) as a 'train_eval' line at the end: a train/test
  gap that measures fit rather than the regularizer's noise.
  `allow_config_change`: resume even where the config differs from a
  workdir's config.json in what it trains (else UserError, nothing moved).
  """
  run, config = program.run, program.run.config
  primary = jax.process_index() == 0
  seeds = [int(c.seed) for c in configs]
  seed_arg = jnp.asarray(seeds, jnp.int32) if program.stacked else seeds[0]

  # --- init and resume ---------------------------------------------------
  for c in configs:  # The program checked its own config; each seed's rate may differ.
    _check_values(c)
  lrs = [float(c.optimizer.learning_rate) for c in configs]
  state = program.init(seed_arg, jnp.asarray(lrs, jnp.float32) if program.stacked
                       else lrs[0])
  ckpt = checkpointing.Checkpointer(checkpoint_dir, config.train.keep_checkpoints)
  try:
    # Before anything is restored or moved: a resume goes on with its own
    # config, or records on purpose what changed (lib/config_history.py).
    resuming = ckpt.latest_step() is not None
    histories = [config_history.check(w, c.to_dict(), allow_config_change)
                 if resuming else ([], {}) for c, w in zip(configs, workdirs)]
    # A program serves every seed of its config: the order is this seed's.
    data_iter = None if program.device else run.data.with_seed(seeds[0]).train_iterator()
    start, state = ckpt.restore_latest(state, data_iter)  # UserError if misfit.
  except BaseException:  # Refused: the checkpointer (and its quieting) closes.
    _close_quietly(ckpt)
    raise
  if start:  # The saved rate is the old config's; a changed one (allowed above) applies.
    state = state.replace(opt_state=optim.with_learning_rate(
        state.opt_state, jnp.asarray(lrs, jnp.float32) if program.stacked else lrs[0]))
  if start:
    which = f'{len(seeds)} seed(s) ' if program.stacked else ''
    progress.say(f'resumed {which}from the checkpoint at step {start}')
  elif primary:  # Records of a session that saved nothing are replaced: say so.
    for w in workdirs:
      if logged := metrics_writer.read(w):
        progress.say(f'{w}: no checkpoint: starting from step 0 (replacing '
                     f'the records of an earlier session, up to step '
                     f"{max(r['step'] for r in logged)})")
  origin = provenance.record(start, {  # Every process: it gathers host names.
      'fast_cpu_gradients': config.train.fast_cpu_gradients,
      'gradient_rewrites': sorted(run.gradient_rewrites),
      'compute_dtype': config.train.compute_dtype,
      'pipeline': config.data.pipeline,
      'seeds_in_program': len(seeds) if program.stacked else None})
  if primary:
    for c, w, (history, diff) in zip(configs, workdirs, histories):
      os.makedirs(w, exist_ok=True)
      if diff:
        progress.say(f'{w}: continuing at step {start} with changed '
                     f'{", ".join(diff)} (recorded in config.json)')
      write_json_atomic(os.path.join(w, config_history.CONFIG_FILE),
                        config_history.with_history(c.to_dict(), history, start, diff))
      provenance.append(w, origin)
  records = _Records(program, workdirs, start, primary)
  if program.stacked:  # A seed frozen at an earlier step diverged there.
    for i, s in enumerate(np.asarray(jax.device_get(state.step))):
      if s != start:
        records.diverged[i] = errors.Diverged(
            f'the loss became non-finite at step {s + 1} (in an earlier '
            'session); lower the learning rate or check the data')
  preempt = preemption.PreemptionWatch(ckpt.manager)
  schedule = checkpoint_schedule.Schedule(
      run.checkpoint_every, config.train.checkpoint_every_minutes,
      config.train.log_every_steps, agree=_process_0_decides(),
      min_seconds=checkpoint_schedule.min_seconds(config.train.checkpoint_every_steps))

  # --- steps: inputs, step, log, evaluate, checkpoint, SIGTERM/Ctrl-C -------
  pending, eval_metrics, finished = [], None, False
  selection = program.selection_role
  during = VALIDATION_SPLIT if selection == 'validation' else EVAL_SPLIT
  # A resumed run's earlier evaluations count.
  best, best_step = records.best_so_far(start, during)
  permutation, permutation_epoch = None, None
  t0 = time.time()
  try:
    for step in range(start + 1, run.total_steps + 1):
      if program.device:
        epoch = (step - 1) // program.steps_per_epoch
        if epoch != permutation_epoch:
          permutation = program.permutation(seed_arg, epoch)
          permutation_epoch = epoch
        inputs = (program.train_arrays, permutation)
      else:
        inputs = program.host_batch(next(data_iter))
      state, metrics = program.step(state, inputs)
      if step == start + 1:  # It compiled the step: not counted in ex/s.
        records.meter.first_step_done(step, lambda: jax.block_until_ready(state))
        if primary:  # Here, not before the step: lowering it takes start-up time.
          progress.say(model_line(run))
      pending.append((step, metrics))
      last = step == run.total_steps
      stopping = preempt.reached(step)
      saving = schedule.due(step) or last or stopping
      if step % config.train.log_every_steps == 0 or saving:
        records.train(pending)  # Checked before anything is saved.
        pending = []
      if step % run.eval_every == 0 or last:
        with records.meter.excluding(lambda: jax.block_until_ready(state)):
          eval_metrics = evaluate(program.eval, state, program.eval_batches(selection))
        better = np.atleast_1d(eval_metrics['accuracy']) > best
        best = np.where(better, eval_metrics['accuracy'], best)
        best_step = np.where(better, step, best_step)
        records.eval(step, eval_metrics, during)
      if saving:
        _storage_guarded(lambda: ckpt.save(step, state, data_iter), ckpt)
        schedule.saved()
      if stopping:
        _storage_guarded(ckpt.wait, ckpt)
        raise Preempted(step, preemption.received())

    # --- final evaluations ---------------------------------------------------
    if eval_metrics is None:  # Resumed at the final step: evaluate once more.
      eval_metrics = evaluate(program.eval, state, program.eval_batches(selection))
    # The test split once, at the end: nothing is chosen on it.
    test_metrics = (eval_metrics if selection == 'test' else
                    evaluate(program.eval, state, program.eval_batches('test')))
    records.eval(run.total_steps, test_metrics, TEST_SPLIT)
    if evaluate_train_split:
      records.eval(run.total_steps,
                   evaluate(program.eval, state, program.train_split_batches()),
                   TRAIN_EVAL_SPLIT)
    finished = True
  finally:
    preempt.close()
    try:
      if finished:
        _storage_guarded(ckpt.close, ckpt)  # A failed async save surfaces here.
      else:  # The loop's own error is the one to report.
        _close_quietly(ckpt)
    finally:
      records.close()

  # --- results ---------------------------------------------------------------
  seconds = time.time() - t0
  accuracy = np.atleast_1d(eval_metrics['accuracy'])
  loss = np.atleast_1d(eval_metrics['loss'])
  test_accuracy = np.atleast_1d(test_metrics['accuracy'])
  test_loss = np.atleast_1d(test_metrics['loss'])
  results = []
  for i, (c, w) in enumerate(zip(configs, workdirs)):
    if i in records.diverged:
      results.append(records.diverged[i])
      continue
    r = {
        'dataset': c.data.name, 'model': c.model.name, 'seed': seeds[i],
        'steps': run.total_steps,
        # What was evaluated while training: choose on these ('chosen_on').
        'eval_split': (_validation_name(c.data) if selection == 'validation'
                       else c.data.eval_split),
        'chosen_on': selection,
        'eval_accuracy': float(accuracy[i]), 'eval_loss': float(loss[i]),
        'best_eval_accuracy': float(max(best[i], accuracy[i])),
        'best_eval_step': int(best_step[i]) if best[i] >= accuracy[i] else run.total_steps,
        # The test split, evaluated once at the last step.
        'test_split': c.data.eval_split,
        'test_accuracy': float(test_accuracy[i]), 'test_loss': float(test_loss[i]),
        'learning_rate': float(c.optimizer.learning_rate),
        'train_seconds_this_session': seconds,
        'devices': jax.device_count(), 'processes': jax.process_count(),
    }
    if selection == 'validation':
      r['validation_accuracy'], r['validation_loss'] = r['eval_accuracy'], r['eval_loss']
    if program.stacked:
      r['seeds_in_program'] = len(seeds)  # The seconds were shared by these.
    if primary:
      write_json_atomic(os.path.join(w, RESULTS_FILE), r)
    results.append(r)
  if program.stacked:
    progress.say(f"  seed(s) {', '.join(map(str, seeds))}: "
                 f"{config.data.eval_split} accuracy "
                 f"{', '.join(f'{100 * a:.2f}%' for a in test_accuracy)} ({seconds:.1f} s)")
  elif primary:
    chosen = (f'validation accuracy {100 * accuracy[0]:.2f}%, '
              if selection == 'validation' else '')
    progress.say(f"{chosen}{config.data.eval_split} accuracy: "
                 f"{100 * test_accuracy[0]:.2f}% (loss {test_loss[0]:.4f}); "
                 f"run directory: {os.path.abspath(workdirs[0])}")
  return results


def _process_0_decides():
  """None for one process; else a function that gives every process
  process 0's value of a bool (the clock-based checkpoint decision)."""
  if jax.process_count() == 1:
    return None
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return lambda value: bool(multihost_utils.broadcast_one_to_all(np.bool_(value)))


def _validation_name(data_config) -> str:
  if data_config.validation_split:
    return data_config.validation_split
  return (f'{data_config.train_split} (held out: '
          f'{data_config.validation_fraction:g})')


def _storage_guarded(action, ckpt: checkpointing.Checkpointer) -> None:
  """`action` (a save, a wait), with a full disk or a read-only directory as
  one line: Orbax only commits whole checkpoints, so the last committed one
  is intact and the run resumes from it once there is room."""
  try:
    action()
  except Exception as e:  # pylint: disable=broad-except
    step = ckpt.committed_step()
    problem = errors.storage_error(e, context=(
        f'writing checkpoints to {ckpt.directory}: ' +
        (f'the last committed one (step {step}) is intact; run the same '
         'command again to resume from it' if step is not None else
         'none was committed yet; the run starts over when run again')))
    if problem is None:
      raise
    raise problem from None


def _close_quietly(ckpt: checkpointing.Checkpointer) -> None:
  try:
    ckpt.close()
  except Exception as e:  # pylint: disable=broad-except
    progress.say(f'warning: closing the checkpoints also failed: '
                 f'{type(e).__name__}: {str(e).splitlines()[0][:200]}')


def finished_results(workdir: str, total_steps: int) -> dict | None:
  """The results of a run that finished these steps (results.json and the
  final checkpoint are there), or None: starting it again changes nothing."""
  path = os.path.join(workdir, RESULTS_FILE)
  if not (os.path.exists(path) and
          os.path.isdir(os.path.join(workdir, 'checkpoints', str(total_steps)))):
    return None
  with open(path) as f:
    results = json.load(f)
  return results if results.get('steps') == total_steps else None


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       evaluate_train_split: bool = False,
                       allow_config_change: bool = False) -> dict:
  """One ordinary run into workdir: its results dict, or
  {'preempted_at_step': step, 'signal': name} after SIGTERM or Ctrl-C
  (checkpointed; run it again)."""
  run = Run(config)  # Raises UserError on bad input; nothing written yet.
  if (done := finished_results(workdir, run.total_steps)) is not None:
    config_history.check_finished(workdir, config.to_dict())
    progress.say(f'{os.path.abspath(workdir)} already finished its '
                 f'{run.total_steps} steps; nothing to do')
    return done
  program = Program(run, stacked=False, mesh=parallel.make_mesh())
  try:
    return train(program, [config], [workdir],
                 os.path.join(workdir, 'checkpoints'), evaluate_train_split,
                 allow_config_change)[0]
  except Preempted as e:
    progress.say(e.line(workdir))
    return {'preempted_at_step': e.step, 'signal': e.signal}
