"""The compiled step, top to bottom: the train state; the loss; how a step
takes its batch (gathered on the device, to float, augmented, mixed); its
gradient and the update; how seeds are mapped; the eval step. One file, as
flax's examples/imagenet/train.py keeps its loss and step together: from a
config to an applied update a reader opens the config, lib/models (the
model), this file and lib/optim.py. lib/trainer.py's loop only calls
`make_step`'s result.

The steps are written for the global batch; the trainer compiles them with
the batch sharded over the device mesh, so XLA adds the cross-device
gradient (and BatchNorm statistics) reductions itself.
"""
import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from lib import errors, optim


# ---------------------------------------------------------------------------
# The train state.

@flax.struct.dataclass
class TrainState:
  step: jax.Array         # int32 scalar: optimizer steps taken.
  params: Any             # Trainable parameters (float32).
  model_state: Any        # Other collections, e.g. {'batch_stats': ...}, or {}.
  opt_state: Any
  rng: jax.Array          # uint32[2] key; each step uses fold_in(rng, step).


@flax.struct.dataclass
class AveragedTrainState(TrainState):
  """The state of a run with train.ema_decay > 0: also an exponential moving
  average of the weights, as timm's ModelEmaV2 keeps it: every floating
  variable of the model, the parameters and the BatchNorm statistics alike,
  starts at the initial weights and after each optimizer step becomes

      ema <- decay * ema + (1 - decay) * weights.

  Saved in every checkpoint; evaluation uses it (make_eval_step), the
  trained weights' figures logged beside it as raw_loss and raw_accuracy.
  A subclass, so that a run without it saves the state it always did."""
  ema: Any                # {'params': ..., 'model_state': ...}


def check_ema_decay(decay: float) -> None:
  if not 0 <= decay < 1:
    raise errors.UserError(
        f'train.ema_decay must be in [0, 1) (the weight of the average; '
        f'0: off, e.g. 0.999); got {decay!r}')


def update_ema(ema: dict, params, model_state, decay: float) -> dict:
  """One step of the average towards the weights after an update; integer
  variables (none in today's models) are copied, as timm's ModelEmaV3
  copies them."""
  def average(e, w):
    if not jnp.issubdtype(w.dtype, jnp.floating):
      return w
    return decay * e + (1 - decay) * w
  return jax.tree.map(average, ema, {'params': params, 'model_state': model_state})


def init_state(model: nn.Module, tx: optax.GradientTransformation,
               image_shape: tuple[int, ...], seed: int,
               with_ema: bool = False) -> TrainState:
  """Fresh state; jit it with replicated out_shardings to place it.
  `with_ema`: it keeps an average of the weights (train.ema_decay > 0)."""
  init_key, step_key = jax.random.split(jax.random.PRNGKey(seed))
  dummy = jnp.zeros((1, *image_shape), jnp.float32)
  variables = model.init({'params': init_key}, dummy, train=False)
  params = variables.pop('params')
  model_state = dict(variables)
  fields = dict(step=jnp.zeros((), jnp.int32), params=params,
                model_state=model_state, opt_state=tx.init(params), rng=step_key)
  if with_ema:
    # The average starts at the initial weights.
    return AveragedTrainState(**fields, ema={'params': params,
                                             'model_state': model_state})
  return TrainState(**fields)


# ---------------------------------------------------------------------------
# The loss, and per-example correctness, for the two task kinds.
#
# num_outputs == 1: the lecture's binary logistic task, sigmoid + binary
# cross-entropy, predict 1 when the logit is positive. Otherwise softmax
# cross-entropy over classes.
#
# Label smoothing (Szegedy et al. 2016; `train.label_smoothing`, the train
# loss only) trains on (1 - a) * one_hot + a / K instead of the one-hot target
# (optax.smooth_labels); the one-output task smooths its 0/1 target the same
# way with K = 2, as Keras's BinaryCrossentropy(label_smoothing=a) does.

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
  (apply_mixing, below): smoothed one-hot rows [n, num_outputs], or the
  smoothed 0/1 target [n] of the one-output task."""
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


# ---------------------------------------------------------------------------
# The batch. With data.pipeline='device' the split lives on the device and
# the step gathers its own batch (device_batch); with 'grain' the host hands
# it in. Images stay uint8 until the step (to_float): both pipelines
# normalize in one place, and the device copy takes a quarter of the memory.

def to_float(images: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [0, 1]; done inside the jitted step."""
  return images.astype(jnp.float32) * (1.0 / 255.0)


def epoch_permutation(key: jax.Array, epoch, n: int) -> jax.Array:
  """The order of the n examples in `epoch`: a pure function of (key, epoch)."""
  return jax.random.permutation(jax.random.fold_in(key, epoch), n)


def device_batch(data: dict[str, jax.Array], step: jax.Array, key: jax.Array,
                 batch_size: int, permutation: jax.Array | None = None
                 ) -> dict[str, jax.Array]:
  """Batch `step` of a split held on device; traced inside the train step.

  Each epoch is a fresh permutation drawn from fold_in(key, epoch), so the
  order depends only on the seed and the step (exact resume for free).
  Drawing it sorts the whole split (two sorts of 60,000 keys for MNIST, a
  third of a small CNN's step on CPU), so a caller that runs many steps passes
  `permutation`, epoch_permutation(key, step's epoch, n), computed once per
  epoch; the batch is the same.
  """
  n = data['label'].shape[0]
  steps_per_epoch = n // batch_size
  epoch, within = step // steps_per_epoch, step % steps_per_epoch
  perm = epoch_permutation(key, epoch, n) if permutation is None else permutation
  idx = jax.lax.dynamic_slice_in_dim(perm, within * batch_size, batch_size)
  return {'image': data['image'][idx], 'label': data['label'][idx]}


# Augmentation inside the step, on device. The step calls
# `augment(images, key, augmentation)` with its own key (fold_in of the
# state's key and step), so the augmentation is reproducible, resumes exactly
# and, with stacked seeds, follows each seed's key.
# `read_augmentation(data_config)` says what to apply:
#
# - data.augment='cifar' with data.pipeline='device': lib/data/augment.py's
#   'cifar' recipe (pad 4 with data.pad_mode, a random crop back to the
#   image's size, a random left-right flip), the same outcomes with the same
#   probabilities (tests/test_device_augment.py); with 'grain' it runs on the
#   host instead.
# - data.random_flip: a left-right flip with probability 1/2 (either pipeline).
# - data.random_shift: a translation by up to that many pixels, after the
#   rest (either pipeline; random_shift=4 alone is the 'cifar' crop without
#   flip).
#
# Then, on the float images and their labels, mixup and cutmix
# (`apply_mixing(..., read_mixing(data_config))`, below).
#
# CIFAR-10's training split is 150 MB of uint8 (airbench keeps it on the GPU
# and augments there too); per-example host code could not feed a step of a
# few milliseconds.

PAD_MODES = ('constant', 'edge', 'reflect', 'symmetric')  # np.pad's names.
CIFAR_PADDING = 4  # He et al. 2015, sec. 4.2; lib/data/augment.py's 'cifar'.


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """What the step applies, in this order: pad-and-crop, flip, shift."""
  crop_padding: int = 0     # Pad this much, then crop back at random.
  flip: bool = False        # Left-right with probability 1/2.
  shift: int = 0            # data.random_shift.
  pad_mode: str = 'constant'

  @property
  def active(self) -> bool:
    return bool(self.crop_padding or self.flip or self.shift)


def read_augmentation(data_config) -> Augmentation:
  """The device-side augmentation a data config asks for (UserError if it
  asks for one the device cannot do)."""
  pad_mode = data_config.pad_mode
  if pad_mode not in PAD_MODES:
    raise errors.unknown_name('data.pad_mode', pad_mode, PAD_MODES)
  on_device = data_config.pipeline == 'device'
  cifar = on_device and data_config.augment == 'cifar'
  if on_device and data_config.augment == 'imagenet':
    raise errors.UserError(
        "augment 'imagenet' decodes and resizes JPEGs on the host; set "
        '--config.data.pipeline=grain')
  if cifar and data_config.image_size:
    raise errors.UserError(
        f"data.pipeline='device' crops 'cifar' back to the images' own size; "
        f'set --config.data.image_size=0 (got {data_config.image_size}) or '
        '--config.data.pipeline=grain')
  return Augmentation(crop_padding=CIFAR_PADDING if cifar else 0,
                      flip=cifar or bool(data_config.random_flip),
                      shift=int(data_config.random_shift), pad_mode=pad_mode)


def augment(images: jax.Array, key: jax.Array,
            augmentation: Augmentation | int) -> jax.Array:
  """`augmentation` applied to a uint8 NHWC batch, each example its own draw.

  An int is a bare random_shift (the step's older signature). The shift
  draws from `key` itself, as before crops and flips existed, so a config
  with only random_shift trains bitwise as it did; the crop and the flip
  draw from keys folded from it.
  """
  a = Augmentation(shift=augmentation) if isinstance(augmentation, int) else augmentation
  if a.crop_padding:
    images = random_crop(images, jax.random.fold_in(key, 1), a.crop_padding,
                         a.pad_mode)
  if a.flip:
    images = random_flip(images, jax.random.fold_in(key, 2))
  return random_shift(images, key, a.shift, a.pad_mode)


def random_crop(images: jax.Array, key: jax.Array, padding: int,
                mode: str = 'constant') -> jax.Array:
  """Pads `padding` pixels on each side (np.pad's `mode`), then crops each
  image back to its size at an offset uniform in [0, 2 * padding] on each
  axis: lib/data/augment.py RandomCrop's outcomes and probabilities."""
  if padding <= 0:
    return images
  n, h, w, c = images.shape
  padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding),
                            (0, 0)), mode=mode)
  offsets = jax.random.randint(key, (n, 2), 0, 2 * padding + 1)

  def crop(image, offset):
    return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, c))

  return jax.vmap(crop)(padded, offsets)


def random_flip(images: jax.Array, key: jax.Array) -> jax.Array:
  """Mirrors each image left-right with probability 1/2."""
  flip = jax.random.bernoulli(key, 0.5, (images.shape[0],))
  return jnp.where(flip[:, None, None, None], images[:, :, ::-1], images)


def random_shift(images: jax.Array, key: jax.Array, max_shift: int,
                 mode: str = 'constant') -> jax.Array:
  """Translates each NHWC image by up to max_shift pixels, filling the edge
  by `mode` (zeros by default)."""
  return random_crop(images, key, max_shift, mode)


# Mixup and cutmix, after the augmentation above, on float images and soft
# targets, as timm's `Mixup` does them in its default 'batch' mode.
#
# Mixup (Zhang et al. 2018) blends each image with another, x * lam +
# x' * (1 - lam); cutmix (Yun et al. 2019) pastes a box of the other image,
# and lam is the part of the image left (timm's `correct_lam`: the box is
# clipped to the image, lam recomputed from its real area). The partner of
# example i is example n-1-i (the batch reversed), one lam for the whole
# batch, lam ~ Beta(alpha, alpha) of the method drawn. With both on, cutmix is
# drawn with probability `switch_prob`. The targets mix the same way: one-hot
# labels, smoothed first (train.label_smoothing, as timm's `mixup_target`),
# then t * lam + t' * (1 - lam).
#
# The step calls `apply_mixing` with the augmentation's key, folded: the
# draws are a function of (seed, step), so stacked seeds draw their own and a
# resume is exact. Written here rather than taken from timm: timm mixes torch
# tensors on the host, and the draws must come from the step's JAX key.


@dataclasses.dataclass(frozen=True)
class Mixing:
  mixup_alpha: float = 0.0   # data.mixup_alpha; 0: off.
  cutmix_alpha: float = 0.0  # data.cutmix_alpha; 0: off.
  switch_prob: float = 0.5   # data.mix_switch_prob: cutmix's share when both are on.

  @property
  def active(self) -> bool:
    return self.mixup_alpha > 0 or self.cutmix_alpha > 0


def read_mixing(data_config) -> Mixing:
  """The config's mixing; bad values refused in one line each."""
  r = Mixing(float(data_config.mixup_alpha), float(data_config.cutmix_alpha),
             float(data_config.mix_switch_prob))
  for name, value in (('mixup_alpha', r.mixup_alpha),
                      ('cutmix_alpha', r.cutmix_alpha)):
    if not value >= 0:
      raise errors.UserError(
          f'data.{name} must be >= 0 (the Beta(alpha, alpha) of lam; 0: off); '
          f'got {value!r}')
  if not 0 <= r.switch_prob <= 1:
    raise errors.UserError(
        'data.mix_switch_prob must be in [0, 1] (the probability of cutmix '
        f'when mixup and cutmix are both on); got {r.switch_prob!r}')
  return r


class MixDraw(NamedTuple):
  """One batch's draws: lam ~ Beta, whether it is cutmix, the box's centre."""
  lam: jax.Array         # float32 scalar, as drawn (before the box's correction).
  use_cutmix: jax.Array  # bool scalar.
  centre: jax.Array      # int32 [2]: (cy, cx), uniform over the image's pixels.


def draw_mix(key: jax.Array, mixing: Mixing, height: int, width: int) -> MixDraw:
  """timm's Mixup._params_per_batch and rand_bbox's centre, from `key`."""
  switch_key, lam_key, y_key, x_key = jax.random.split(key, 4)
  m, c = mixing.mixup_alpha, mixing.cutmix_alpha
  if m > 0 and c > 0:
    use_cutmix = jax.random.uniform(switch_key) < mixing.switch_prob
  else:
    use_cutmix = jnp.asarray(c > 0)
  # One Beta draw with the chosen method's alpha: one of jax's rejection
  # samplers to compile, not two (each adds seconds to the step's compile).
  alpha = jnp.where(use_cutmix, c, m)
  lam = jax.random.beta(lam_key, alpha, alpha).astype(jnp.float32)
  centre = jnp.stack([jax.random.randint(y_key, (), 0, height),
                      jax.random.randint(x_key, (), 0, width)])
  return MixDraw(lam, use_cutmix, centre)


def cutmix_box(d: MixDraw, height: int, width: int) -> tuple[jax.Array, jax.Array]:
  """timm's rand_bbox: a box of sides int(side * sqrt(1 - lam)) centred at
  the drawn pixel, clipped to the image; ((y_low, y_high), (x_low, x_high))
  and lam corrected to the box's real area (timm's cutmix_bbox_and_lam).
  In float32 where timm uses float64: a side can differ by a pixel where
  side * sqrt(1 - lam) falls within float32's rounding of an integer."""
  ratio = jnp.sqrt(1 - d.lam)
  sides = jnp.stack([jnp.floor(height * ratio), jnp.floor(width * ratio)])
  half = sides.astype(jnp.int32) // 2
  limits = jnp.array([height, width])
  low = jnp.clip(d.centre - half, 0, limits)
  high = jnp.clip(d.centre + half, 0, limits)
  area = jnp.prod(high - low)
  return jnp.stack([low, high], axis=1), 1 - area / (height * width)


def mix(images: jax.Array, targets: jax.Array, d: MixDraw
        ) -> tuple[jax.Array, jax.Array]:
  """Float NHWC images and their soft targets ([n, classes], or [n] for the
  one-output task) mixed with the batch reversed, as `d` says."""
  h, w = images.shape[1:3]
  partner = images[::-1]
  bounds, lam_box = cutmix_box(d, h, w)
  rows, cols = jnp.arange(h), jnp.arange(w)
  inside = (((rows >= bounds[0, 0]) & (rows < bounds[0, 1]))[:, None] &
            ((cols >= bounds[1, 0]) & (cols < bounds[1, 1]))[None, :])
  cut = jnp.where(inside[None, :, :, None], partner, images)
  blended = images * d.lam + partner * (1 - d.lam)
  images = jnp.where(d.use_cutmix, cut, blended)
  lam = jnp.where(d.use_cutmix, lam_box, d.lam).astype(targets.dtype)
  return images, targets * lam + targets[::-1] * (1 - lam)


# `augment` above draws from the key itself and its folds 1 and 2.
MIX_KEY_FOLD = 0x6d6978  # 'mix'


def apply_mixing(images: jax.Array, labels: jax.Array, key: jax.Array,
                 mixing: Mixing, num_outputs: int, label_smoothing: float = 0.0
                 ) -> tuple[jax.Array, jax.Array]:
  """The step's one call, on float NHWC images and integer labels: the
  images mixed and the labels as mixed soft targets (smoothed first), from
  a key folded from the augmentation's `key`; both unchanged when
  `mixing` is off (the step then trains on the integer labels as before)."""
  if not mixing.active:
    return images, labels
  targets = soft_targets(labels, num_outputs, label_smoothing)
  return mix(images, targets, draw_mix(jax.random.fold_in(key, MIX_KEY_FOLD),
                                       mixing, *images.shape[1:3]))


# ---------------------------------------------------------------------------
# The gradient, the update, the seeds, and evaluation.

def loss_and_grads(model: nn.Module, params, model_state, images, labels,
                   dropout_rng, label_smoothing: float = 0.0,
                   train: bool = True):  # False: a probe (optim.is_probe).
  """Mean cross-entropy of the batch in train mode (on smoothed targets
  with `label_smoothing`, per_example_loss), its gradient with
  respect to `params`, the logits and the updated model state. `model` is
  the train model: built with the CPU gradient rewrites where they are on
  (lib/models build(..., rewrites=...)). Float `labels` are soft targets,
  already smoothed and mixed (apply_mixing)."""
  def loss_fn(params):
    logits, new_model_state = model.apply(
        {'params': params, **model_state}, images, train=train,
        rngs={'dropout': dropout_rng}, mutable=list(model_state))
    if jnp.issubdtype(labels.dtype, jnp.floating):
      loss = soft_target_loss(logits, labels).mean()
    else:
      loss = per_example_loss(logits, labels, label_smoothing).mean()
    return loss, (logits, dict(new_model_state))
  (loss, (logits, new_model_state)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(params)
  return loss, logits, new_model_state, grads


def make_train_step(model: nn.Module, tx: optax.GradientTransformation,
                    augmentation: Augmentation | int = 0,
                    grad_accum_steps: int = 1,
                    learning_rate: Callable | None = None,
                    label_smoothing: float = 0.0,
                    trainable: str | tuple = 'all',
                    mixing: Mixing = Mixing(),
                    ema_decay: float = 0.0
                    ) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
  """The step of the train model `model` (see loss_and_grads);
  `augmentation`: what the step applies to its batch on device
  (read_augmentation(config.data); an int is a bare random_shift);
  `learning_rate(opt_state)`, when given, is logged with its metrics;
  `label_smoothing`: config.train.label_smoothing; parameters outside
  `trainable` (train.trainable, lib/optim.py) get no gradient, and their
  modules' BatchNorm statistics stay as they were; `mixing`: mixup and
  cutmix (read_mixing(config.data)), after the augmentation, from the step's
  key; `ema_decay`: config.train.ema_decay (AveragedTrainState)."""
  compute_grads = functools.partial(loss_and_grads, model,
                                    label_smoothing=label_smoothing,
                                    train=not optim.is_probe(trainable))

  def accumulated(params, model_state, images, labels, dropout_rng):
    """Same as compute_grads over the batch, run in `grad_accum_steps` slices.

    Slice j takes examples j, j+k, j+2k, ...: each device keeps its own rows,
    so slicing moves no data between devices.
    """
    k = grad_accum_steps
    split = lambda x: x.reshape(x.shape[0] // k, k, *x.shape[1:]).swapaxes(0, 1)

    def body(carry, micro):
      grads_sum, loss_sum, model_state = carry
      j, micro_images, micro_labels = micro
      loss, logits, model_state, grads = compute_grads(
          params, model_state, micro_images, micro_labels,
          jax.random.fold_in(dropout_rng, j))
      grads_sum = jax.tree.map(jnp.add, grads_sum, grads)
      return (grads_sum, loss_sum + loss, model_state), logits

    zeros = jax.tree.map(jnp.zeros_like, params)
    # XLA:CPU runs convolutions inside a loop body without its fast
    # libraries (LeNet-5 at 4 x 128: 1.9 s a step in a loop, 29 ms
    # unrolled), so on CPU the slices are unrolled; elsewhere a loop keeps
    # one slice's activations in memory at a time.
    unroll = k if jax.default_backend() == 'cpu' else 1
    (grads, loss, model_state), logits = jax.lax.scan(
        body, (zeros, 0.0, model_state),
        (jnp.arange(k), split(images), split(labels)), unroll=unroll)
    logits = logits.swapaxes(0, 1).reshape(-1, logits.shape[-1])  # Batch order.
    return loss / k, logits, model_state, jax.tree.map(lambda g: g / k, grads)

  def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    step_rng = jax.random.fold_in(state.rng, state.step)
    dropout_rng, augment_rng = jax.random.split(step_rng)
    images = augment(batch['image'], augment_rng, augmentation)
    images, labels = to_float(images), batch['label']
    images, targets = apply_mixing(
        images, labels, augment_rng, mixing, model.num_outputs, label_smoothing)

    compute = compute_grads if grad_accum_steps == 1 else accumulated
    loss, logits, model_state, grads = compute(
        state.params, state.model_state, images, targets, dropout_rng)
    grads = optim.zero_frozen(grads, trainable)
    model_state = optim.keep_frozen_statistics(model_state, state.model_state,
                                               trainable)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = state.replace(step=state.step + 1,
                              params=optax.apply_updates(state.params, updates),
                              model_state=model_state, opt_state=opt_state)
    if ema_decay:
      new_state = new_state.replace(ema=update_ema(
          state.ema, new_state.params, model_state, ema_decay))
    metrics = {
        'loss': loss,
        'accuracy': correct(logits, labels).mean(),
        'grad_norm': optax.global_norm(grads),
    }
    if learning_rate is not None:  # The rate this update applied.
      metrics['learning_rate'] = learning_rate(state.opt_state)
    return new_state, metrics

  return train_step


def make_step(update: Callable, pipeline_name: str, batch_size: int,
              stacked: bool, batch_sharding=None) -> Callable:
  """The loop's step, (state, inputs) -> (state, metrics), around `update`
  (make_train_step's result).

  How it takes its batch: with data.pipeline='device', `inputs` is (the
  training split on the device, this epoch's permutation) and the step
  gathers its own batch by the state's step counter (device_batch), so
  data order is a function of (seed, step); with 'grain', `inputs` is the
  batch the host pipeline hands in.

  How seeds are mapped: `stacked` states carry a leading seed axis (and so
  does the permutation), and the update is vmapped over it: S seeds in one
  program, each seeing the batches and dropout masks of its own run. A
  stacked seed whose loss is not finite keeps its last finite state: it stops
  being trained while the others go on (the loop stops logging it). An
  unstacked state is one ordinary run.
  """
  device = pipeline_name == 'device'

  def one_seed(state: TrainState, inputs) -> tuple[TrainState, dict]:
    if device:
      arrays, permutation = inputs
      batch = device_batch(arrays, state.step, None, batch_size, permutation)
      if batch_sharding is not None:
        batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
    else:
      batch = inputs
    return update(state, batch)

  if not stacked:
    return one_seed

  def frozen_once_diverged(state: TrainState, inputs):
    new_state, metrics = one_seed(state, inputs)
    finite = jnp.isfinite(metrics['loss'])
    keep = lambda new, old: jnp.where(finite, new, old)
    return jax.tree.map(keep, new_state, state), metrics

  return jax.vmap(frozen_once_diverged, in_axes=(0, (None, 0) if device else None))


def make_eval_step(model: nn.Module, stacked: bool = False
                   ) -> Callable[[TrainState, dict], dict]:
  """Sums of loss and correct predictions over a batch; per seed if stacked.
  A state with an average of the weights (AveragedTrainState) is evaluated on it,
  and on its trained weights too: raw_loss_sum and raw_correct."""

  def sums(params, model_state, batch: dict) -> dict:
    """Sums over the real (mask=1) examples; padding contributes nothing."""
    logits = model.apply({'params': params, **model_state},
                         to_float(batch['image']), train=False)
    mask = batch['mask'].astype(jnp.float32)
    per_example = per_example_loss(logits, batch['label'])
    return {
        'loss_sum': (per_example * mask).sum(),
        'correct': (correct(logits, batch['label']) * mask).sum(),
        'count': mask.sum(),
    }

  def eval_step(state: TrainState, batch: dict) -> dict:
    out = sums(state.params, state.model_state, batch)
    if not isinstance(state, AveragedTrainState):
      return out
    raw = out
    out = sums(state.ema['params'], state.ema['model_state'], batch)
    return {**out, 'raw_loss_sum': raw['loss_sum'], 'raw_correct': raw['correct']}

  return jax.vmap(eval_step, in_axes=(0, None)) if stacked else eval_step
