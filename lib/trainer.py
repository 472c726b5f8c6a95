"""The training loop: the one every kind of run goes through.

Read it in this order:
- `Run`: everything derived from a config, checked before anything is written;
- `Program`: what every seed of that config shares, compiled once: init, the
  step (lib/train_step.py), the epoch order, the eval step. It hides whether
  the seeds are one ordinary run (over every device of every process) or a
  stacked group that one vmapped program steps (lib/multi_seed.py);
- `train`: the loop. lib/session.py sets up and resumes (lock, init, the
  newest readable checkpoint, config.json) and lib/records.py records (per
  seed metrics, console lines, divergence, the best step); each step is its
  inputs, the step, logging, evaluation, checkpointing, and SIGTERM or Ctrl-C
  (a checkpoint, then Preempted: start it again to go on);
- `_results`: results.json per seed.

A seed whose loss stops being finite is not logged again: an ordinary run
stops there without saving it (errors.Diverged); a seed of a group is
reported as diverged while the others go on.

`train_and_evaluate(config, workdir)` is the ordinary run.
"""
import json
import math
import os
import shlex
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lib import atomic, checkpoint_schedule, config_history, cpu_gradients, errors
from lib import flops, models, optim, parallel, preemption, progress
from lib import records as records_lib
from lib import pretrained, session, train_step, xla_cpu
from lib.data import pipeline

COMPUTE_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}
RESULTS_FILE = 'results.json'


class Run:
  """Everything derived from a config, built and checked before any write."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.check_values(config)
    # What the step augments on device, and its mixup and cutmix; refuses
    # what it cannot do (UserError).
    self.augmentation = train_step.read_augmentation(config.data)
    self.mixing = train_step.read_mixing(config.data)
    train_step.check_ema_decay(config.train.ema_decay)
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
    num_outputs = train_step.num_outputs(spec.num_classes)
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
    self.tx = optim.build(config.optimizer, self.total_steps, steps_per_epoch,
                          config.train.trainable)
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

  @staticmethod
  def check_values(config: ml_collections.ConfigDict) -> None:
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
        (0 <= train.label_smoothing < 1,
         'train.label_smoothing must be in [0, 1) (0: off)'),
    ]
    if 'dropout' in config.model:
      checks.append((0 <= config.model.dropout < 1,
                     'model.dropout must be in [0, 1) (the fraction dropped)'))
    for ok, message in checks:
      if not ok:
        raise errors.UserError(f'{message}; got the config\'s value: '
                               f'{_value_in(config, message.split()[0])!r}')

  def init_state(self) -> train_step.TrainState:
    return train_step.init_state(self.model, self.tx, self.data.spec.image_shape,
                                 self.config.seed, self.config.train.ema_decay > 0)


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


def evaluate(eval_fn, state, batches) -> dict:
  """Mean loss and accuracy over `batches`: floats, or arrays [S] if stacked;
  with an average of the weights, its figures, and raw_loss and
  raw_accuracy of the trained weights."""
  sums = None
  for batch in batches:
    out = eval_fn(state, batch)
    sums = out if sums is None else jax.tree.map(jnp.add, sums, out)
  sums = jax.device_get(sums)
  out = {f'{raw}{k}': sums[f'{raw}{total}'] / sums['count']
         for raw in ('', 'raw_') if f'{raw}correct' in sums
         for k, total in (('loss', 'loss_sum'), ('accuracy', 'correct'))}
  return {k: float(v) for k, v in out.items()} if np.ndim(sums['count']) == 0 else out


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
      state = train_step.init_state(run.model, run.tx, data.spec.image_shape, seed,
                                    config.train.ema_decay > 0)
      return state.replace(
          opt_state=optim.with_learning_rate(state.opt_state, learning_rate))
    # Imported weights (model.init_from), read and checked here, before
    # anything is written; every seed starts from them (lib/pretrained.py).
    weights = pretrained.read(
        config.model, {'params': run.abstract_state.params,
                       **run.abstract_state.model_state}, progress.say)
    compiled_init = jax.jit(jax.vmap(init) if stacked else init,
                            out_shardings=replicated,
                            compiler_options={'xla_backend_optimization_level': 0})

    def init_with_rate(seed, learning_rate=None):
      """The fresh state of seed(s); the learning rate(s) default to the config's."""
      if learning_rate is None:
        rate = float(config.optimizer.learning_rate)
        learning_rate = jnp.full(jnp.shape(seed), rate, jnp.float32) if stacked else rate
      return pretrained.load_into(compiled_init(seed, learning_rate), weights,
                                  stacked)
    self.init = init_with_rate
    update = train_step.make_train_step(
        run.train_model, run.tx, run.augmentation,
        config.train.grad_accum_steps, run.learning_rate,
        mixing=run.mixing, ema_decay=config.train.ema_decay,
        label_smoothing=config.train.label_smoothing,
        trainable=config.train.trainable)
    step = train_step.make_step(update, config.data.pipeline, batch_size,
                                stacked, batch_sharding)
    if self.device:
      # The split lives on every device; each step gathers its own batch.
      # Each epoch's order is drawn once per epoch, not in every step (see
      # train_step.device_batch), from the seed's own data key.
      arrays = data.split_arrays('train')
      self.train_arrays = (parallel.replicate(arrays, mesh) if mesh
                           else jax.device_put(arrays))
      n = self.train_arrays['label'].shape[0]
      self.steps_per_epoch = n // batch_size

      def permutation(seed, epoch):
        key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
        return train_step.epoch_permutation(key, epoch, n)
      self.permutation = jax.jit(
          jax.vmap(permutation, in_axes=(0, None)) if stacked else permutation,
          out_shardings=replicated)
      self.step = jax.jit(step, donate_argnums=0)
      placed = {}  # Each role's batches, placed on first use: the test
      # split's only after the last step (tests/test_validation.py); the
      # training split's, evaluated once at the end, not kept.

      def eval_batches(role):
        if role == 'train':
          return (self._place(b) for b in data.eval_batches(role))
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
    where the config has some, else the test split."""
    return 'validation' if self.run.data.has_validation else 'test'

  def per_seed(self, values: list) -> Any:
    """Per-seed values (seeds, learning rates) as the program takes them: an
    array [S] for stacked seeds, the one value for an ordinary run."""
    if not self.stacked:
      return values[0]
    return jnp.asarray(values, jnp.int32 if isinstance(values[0], int) else jnp.float32)

  def feed(self, seeds, data_iter) -> Callable[[int], Any]:
    """step -> that step's inputs: the device split and its epoch's order
    (drawn once per epoch from the seeds' data keys), or the host
    pipeline's next batch."""
    if not self.device:
      return lambda step: self._place(next(data_iter))
    drawn = {}

    def inputs(step: int):
      epoch = (step - 1) // self.steps_per_epoch
      if epoch not in drawn:
        drawn.clear()
        drawn[epoch] = self.permutation(seeds, epoch)
      return self.train_arrays, drawn[epoch]
    return inputs


def train(program: Program, configs: Sequence[ml_collections.ConfigDict],
          workdirs: Sequence[str], checkpoint_dir: str,
          evaluate_train_split: bool = False,
          allow_config_change: bool = False) -> list:
  """Trains configs[i] (the program's config with its own seed) into
  workdirs[i], checkpointing into checkpoint_dir; the program hides whether
  the seeds are one ordinary run or a stacked group.

  Returns, per seed, its results dict (also written to results.json), or,
  for a seed of a stacked program whose loss stopped being finite, its
  errors.Diverged (it gets no results.json). Raises errors.Diverged for an
  ordinary run, Preempted after saving a checkpoint on SIGTERM or Ctrl-C.
  `evaluate_train_split` adds the training split in inference mode at the
  end (lib/session.py splits). `allow_config_change`: resume even where the
  config differs from a workdir's config.json in what it trains (else
  UserError, nothing moved).
  """
  run = program.run
  with session.Session(program, configs, workdirs, checkpoint_dir,
                       evaluate_train_split, allow_config_change) as s:
    state, records, pending, t0 = s.state, s.records, [], time.time()
    for step in range(s.start + 1, run.total_steps + 1):
      state, metrics = program.step(state, s.inputs(step))
      if step == s.start + 1:  # It compiled the step: not counted in ex/s.
        records.first_step_done(step, state, lambda: model_line(run))
      pending.append((step, metrics))
      last, stopping = step == run.total_steps, s.stop_at(step)
      saving = s.due(step) or last or stopping
      if step % run.config.train.log_every_steps == 0 or saving:
        records.train(pending)  # Checked before anything is saved.
        pending = []
      if step % run.eval_every == 0 or last:  # Before the save: a resume keeps it.
        _evaluate(program, state, records, step, s.splits(last))
      if saving:
        s.save(step, state)
      if stopping:
        s.wait_for_saves()
        raise Preempted(step, preemption.received())
    if s.start == run.total_steps:  # Resumed at the end: the figures, unwritten.
      _evaluate(program, state, records, run.total_steps, s.splits(True),
                write=False)
    s.wait_for_saves()  # A failed background save surfaces before any results.
    return _results(program, configs, workdirs, records, time.time() - t0)


def _evaluate(program: Program, state, records: records_lib.Records, step: int,
              splits: Sequence[str], write: bool = True) -> None:
  with records.meter.excluding(lambda: jax.block_until_ready(state)):
    for split in splits:
      records.evaluated(step, split,
                        evaluate(program.eval, state, program.eval_batches(split)),
                        write)


def _results(program: Program, configs: Sequence[ml_collections.ConfigDict],
             workdirs: Sequence[str], records: records_lib.Records,
             seconds: float) -> list:
  """Each seed's results.json (process 0 writes it): the test split at the
  last step; the validation split's figures where the run has validation
  data; the best step of the split it chose on; and where asked for, the
  training split in inference mode."""
  run, primary = program.run, jax.process_index() == 0
  last = records.last
  results = []
  for i, (c, w) in enumerate(zip(configs, workdirs)):
    if i in records.diverged:
      results.append(records.diverged[i])
      continue
    r = {'dataset': c.data.name, 'model': c.model.name, 'seed': int(c.seed),
         'steps': run.total_steps, 'chosen_on': program.selection_role,
         'best_accuracy': float(records.best[i]),
         'best_step': int(records.best_step[i]),
         'test_split': c.data.test_split,
         'num_classes': run.data.spec.num_classes}  # Chance level, for reports.
    if 'validation' in last:
      r['validation_split'] = _validation_name(c.data)
    # The training split in inference mode, where asked for: 'train_inference_*'.
    for split, name in (('validation', 'validation'), ('test', 'test'),
                        ('train', 'train_inference')):
      for k in ('accuracy', 'loss', 'raw_accuracy', 'raw_loss'):
        if k in last.get(split, {}):
          r[f'{name}_{k}'] = float(last[split][k][i])
    r.update({'learning_rate': float(c.optimizer.learning_rate),
              # Shared by the seeds of one program.
              'train_seconds_this_session': seconds,
              'seeds_in_program': len(configs),
              'devices': jax.device_count(), 'processes': jax.process_count()})
    if primary:
      atomic.write_json(os.path.join(w, RESULTS_FILE), r)
    results.append(r)
  if primary:
    progress.say(_final_line(program, configs, workdirs, last, seconds))
  return results


def _final_line(program: Program, configs, workdirs, last: dict,
                seconds: float) -> str:
  test = last['test']
  named = configs[0].data.test_split
  named = '' if named == 'test' else f" (split '{named}')"
  if program.stacked:
    return (f"  seed(s) {', '.join(str(c.seed) for c in configs)}: test accuracy"
            f"{named} {', '.join(f'{100 * a:.2f}%' for a in test['accuracy'])} "
            f'({seconds:.1f} s)')
  chosen = (f"validation accuracy {100 * last['validation']['accuracy'][0]:.2f}%, "
            if 'validation' in last else '')
  return (f"{chosen}test accuracy{named}: {100 * test['accuracy'][0]:.2f}% "
          f"(loss {test['loss'][0]:.4f}); run directory: "
          f'{os.path.abspath(workdirs[0])}')


def _validation_name(data_config) -> str:
  if data_config.validation_split:
    return data_config.validation_split
  return (f'{data_config.train_split} (held out: '
          f'{data_config.validation_fraction:g})')


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
