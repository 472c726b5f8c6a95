"""The fields every config has, with their defaults, in one place.

Configs are ml_collections ConfigDicts; the launcher locks them, so a typo in
`--config.x.y=v` is an error rather than a silently ignored setting.
"""
import ml_collections


def base_config(dataset: str) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0  # Drives init, dropout and data order; nothing else is random.

  c.data = ml_collections.ConfigDict()
  c.data.name = dataset            # A TFDS name ('digits', 'mnist', 'cifar10', ...).
  c.data.data_dir = ''             # '' = $TFDS_DATA_DIR or ~/tensorflow_datasets.
  c.data.train_split = 'train'      # Or a TFDS slice, e.g. 'train[:90%]'.
  c.data.test_split = 'test'        # Reported once at the end, never chosen on.
  # Validation data, for choosing (the best step, a study's tuned learning
  # rate; lib/data/holdout.py): a fraction of the training split held out
  # (stratified), or a split of the dataset's own ('validation', or a slice
  # like 'train[90%:]'). With either, the trainer evaluates on validation
  # while training and on the test split once, at the end.
  c.data.validation_fraction = 0.0
  c.data.validation_split = ''
  # 'device': the whole split lives on the accelerator and is batched there
  # (fast, for datasets that fit in memory). 'grain': streamed from the
  # array_record files by grain, for any size.
  c.data.pipeline = 'device'
  # 'none' | 'cifar' (in the step with 'device', on the host with 'grain')
  # | 'imagenet' (grain only).
  c.data.augment = 'none'
  c.data.random_shift = 0          # On-device random translation, in pixels.
  c.data.random_flip = False       # On-device left-right flips (p = 1/2).
  # How the 'cifar' crop and random_shift fill the border: np.pad's mode
  # ('constant': zeros, as He et al.; 'reflect', 'edge', 'symmetric').
  c.data.pad_mode = 'constant'
  # Mixup (Zhang et al. 2018) and cutmix (Yun et al. 2019) in the train step,
  # after the augmentation, as timm's Mixup ('batch' mode; lib/train_step.py):
  # lam ~ Beta(alpha, alpha), 0 = off (timm's recipes: 0.8 and 1.0); with
  # both on, cutmix with probability mix_switch_prob (timm's switch_prob).
  c.data.mixup_alpha = 0.0
  c.data.cutmix_alpha = 0.0
  c.data.mix_switch_prob = 0.5
  c.data.image_size = 0            # Resize/crop target for 'imagenet'; 0 = native.
  c.data.positive_class = -1       # >= 0: binary task "this class vs the rest".
  # grain worker processes: 0 = in-process; -1 = every core this process may
  # use on an accelerator (decoding JPEGs), 0 on CPU (the cores compute the
  # steps). Any count resumes any checkpoint (the position is the step).
  c.data.worker_count = -1
  # grain's read-ahead, in batches, and its reader threads. grain's own
  # defaults (500 and 16) hold 500 batches in memory and keep 16 threads
  # decoding them after every pause, which halves a 2-core machine's step
  # rate (experiments/bench, input pipeline).
  c.data.prefetch_batches = 4
  c.data.read_threads = 2

  c.model = model('')

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = 'adam'        # 'gd' (plain theta <- theta - lr*grad), 'sgd',
                                   # 'momentum', 'nesterov', 'adam', 'adamw'.
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = 'constant'  # 'constant' | 'cosine' | 'step'.
  c.optimizer.warmup_epochs = 0.0
  c.optimizer.momentum = 0.9
  c.optimizer.weight_decay = 0.0
  # 'all' decays every parameter (He et al.'s ResNets, torchvision's recipe);
  # 'kernels' only conv and dense kernels: no decay on biases and
  # normalization scales and biases (big_vision's and timm's default).
  c.optimizer.weight_decay_mask = 'all'
  c.optimizer.grad_clip_norm = 0.0  # > 0: clip the gradient's global norm to it.
  c.optimizer.step_epochs = (30, 60, 80)  # For 'step': decay x0.1 at these epochs,
  c.optimizer.step_at_steps = ()  # or, when given, at these steps (a recipe in
                                  # iterations: the same whatever the epoch size).

  c.train = ml_collections.ConfigDict()
  c.train.batch_size = 128         # Global batch, split over all devices.
  c.train.grad_accum_steps = 1     # >1: the batch is run in this many slices
                                   # and their gradients averaged (less memory).
  c.train.num_epochs = 10.0        # Duration in epochs; or set num_steps > 0.
  c.train.num_steps = 0
  # What trains (lib/optim.py): 'all' (fine-tuning), 'head' (a linear
  # probe), or module names, e.g. 'stage4,head'; the rest is frozen.
  c.train.trainable = 'all'
  # Train on (1 - a) * one_hot + a / classes instead of the one-hot label
  # (Szegedy et al. 2016; 0.1 in Inception v3 and timm's recipes); 0: off.
  c.train.label_smoothing = 0.0
  # > 0: evaluate an average of the weights (and BatchNorm statistics),
  # ema <- decay * ema + (1 - decay) * weights after every step (lib/train_step.py;
  # timm's ModelEmaV2, e.g. 0.9998); the trained weights' figures are
  # logged beside it as raw_loss and raw_accuracy. 0: off.
  c.train.ema_decay = 0.0
  c.train.log_every_steps = 50
  c.train.eval_every_epochs = 1.0
  # A checkpoint every this many steps (0: a tenth of the run, but not within
  # 30 s of the last save: lib/checkpoint_schedule.py) or after this many
  # minutes since the last one, whichever comes first; and at the end.
  # Ctrl-C and SIGTERM also save one, at the step they arrive in.
  c.train.checkpoint_every_steps = 0
  c.train.checkpoint_every_minutes = 5.0
  c.train.keep_checkpoints = 3
  c.train.compute_dtype = 'float32'  # 'bfloat16': mixed precision, f32 params.
  # Gradient rewrites measured to speed up XLA:CPU (lib/cpu_gradients):
  # 'auto' = on for the CPU backend only, 'on', 'off', or a list of names.
  c.train.fast_cpu_gradients = 'auto'
  return c


def model(name: str, **settings) -> ml_collections.ConfigDict:
  """The model config: its name and settings, and where its weights start
  (lib/pretrained.py): init_from, a torchvision or timm checkpoint
  (.safetensors, or .pth with torch installed), '' for a fresh init;
  init_exclude, modules left at init (comma-separated; '' = the head when
  the class counts differ)."""
  return ml_collections.ConfigDict(
      dict(name=name, **{'init_from': '', 'init_exclude': '', **settings}))


def scale_lr_with_batch(config: ml_collections.ConfigDict, base_learning_rate: float,
                        base_batch_size: int) -> None:
  """learning_rate = base_learning_rate x train.batch_size / base_batch_size
  (the linear scaling rule, Goyal et al. 2017), resolved whenever the config
  is read, so `--config.train.batch_size=64` gets its own rate. Setting
  `--config.optimizer.learning_rate` replaces the rule with that value."""
  opt = config.optimizer
  opt.base_learning_rate = base_learning_rate
  opt.base_batch_size = base_batch_size
  opt.learning_rate = (opt.get_ref('base_learning_rate')
                       * config.train.get_ref('batch_size')
                       / opt.get_ref('base_batch_size'))


def variant(arg: str | None, datasets: tuple[str, ...],
            options: tuple[str, ...] = ()) -> tuple[str, list[str], str]:
  """Reads `model.py:DATASET[,OPTION...][,runlocal]` (big_vision's
  `get_config(arg)`): the dataset, the model file's own options given, and
  what is left for `apply_arg`."""
  parts = [p for p in (arg or '').split(',') if p]
  if not parts or parts[0] not in datasets:
    given = f'{parts[0]!r} is not one; ' if parts else ''
    raise ValueError(f"this config file takes a dataset after ':': {given}valid: "
                     f"{', '.join(datasets)} (e.g. :{datasets[0]})")
  chosen = [p for p in parts[1:] if p in options]  # In the order given.
  rest = [p for p in parts[1:] if p not in options]
  if [p for p in rest if p != 'runlocal']:
    raise ValueError(f"unknown config argument {rest[0]!r}; valid: "
                     f"{', '.join((*options, 'runlocal'))}")
  return parts[0], chosen, ','.join(rest)


def hold_out_validation(config: ml_collections.ConfigDict) -> None:
  """10% of the training images held out, stratified by class: evaluations
  while training (and anything chosen) use them; the test split is read
  once, at the end."""
  config.data.validation_fraction = 0.1


def imagenet_data(config: ml_collections.ConfigDict) -> None:
  """ILSVRC 2012 as torchvision's recipes read it, on the grain pipeline
  (augment 'imagenet': random resized 224x224 crops and flips; resize to 256
  and the centre 224 for evaluation). data.worker_count stays at its
  default, every core on accelerators (JPEGs are decoded and cropped there;
  experiments/bench/imagenet_host.py)."""
  config.data.test_split = 'validation'
  config.data.pipeline = 'grain'
  config.data.augment = 'imagenet'
  config.data.image_size = 224
  # big_vision's minival: the last 1% of the training split (about 12,800
  # images) for evaluations while training and for anything chosen;
  # 'validation' (50,000) is the test split, read once after the last step.
  config.data.train_split = 'train[:99%]'
  config.data.validation_split = 'train[99%:]'


def apply_arg(config: ml_collections.ConfigDict, arg: str | None):
  """Handles the `runlocal` of `config.py:...,runlocal`: it shrinks the run
  to a smoke test."""
  if not arg:
    return config
  for part in arg.split(','):
    if part == 'runlocal':
      config.train.num_epochs = 0.0
      config.train.num_steps = 20
      config.train.log_every_steps = 5
    else:
      raise ValueError(f"unknown config argument {part!r}; valid: runlocal")
  return config
