"""What the input pipeline costs: the trainer's loop with real data against
the same compiled step fed one batch already on the device.

Both pipelines go through the trainer's own code (lib.trainer.Run and
Program, the loop's inputs as lib.trainer.train takes them): 'grain' reads the array_record files batch by batch on
the host (and the loop hands each batch to the next step while the previous
one computes, as in train_and_evaluate), 'device' gathers each batch inside
the step from the split held on the device. Overhead = pipeline step time /
synthetic step time - 1.

Datasets: scikit-learn's digits (8x8x1, the embedded default, with its
default config configs/cnn.py:digits) and an MNIST-sized one (28x28x1 uint8,
generated here as a real TFDS array_record dataset named 'mnist' in a
temporary data_dir; nothing is downloaded) with the benchmark's CNN.
"""
import os
import tempfile

import jax
import numpy as np
import tensorflow_datasets as tfds

from experiments.bench import cases, timing
from lib import parallel, trainer
from lib.data import catalog


class MnistSized(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Random 28x28x1 uint8 images with 10 labels, MNIST's shapes and sizes."""

  name = 'mnist'
  VERSION = tfds.core.Version('1.0.0')

  def __init__(self, *, num_train: int = 60000, num_test: int = 10000, **kwargs):
    self._sizes = {'train': num_train, 'test': num_test}
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self, description='MNIST-sized random data for benchmarks.',
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
            'label': tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=('image', 'label'))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {split: self._generate_examples(n, seed)
            for seed, (split, n) in enumerate(self._sizes.items())}

  def _generate_examples(self, n: int, seed: int):
    rng = np.random.default_rng(seed)
    for i in range(n):
      yield i, {'image': rng.integers(0, 256, (28, 28, 1), np.uint8),
                'label': int(rng.integers(0, 10))}


def prepare_mnist_sized(data_dir: str, num_train: int, num_test: int) -> None:
  tfds.disable_progress_bar()
  MnistSized(num_train=num_train, num_test=num_test, data_dir=data_dir,
             file_format='array_record').download_and_prepare()


def digits_config(data_dir: str, batch_size: int):
  from configs import cnn  # pylint: disable=g-import-not-at-top
  config = cnn.get_config('digits')
  config.data.data_dir = data_dir
  config.train.batch_size = batch_size
  return config


def mnist_config(data_dir: str, batch_size: int):
  from configs import common  # pylint: disable=g-import-not-at-top
  config = common.base_config('mnist')
  config.data.data_dir = data_dir
  config.model = common.model(**cases.CASES['cnn'].model)
  config.optimizer = cases.optimizer_config()
  config.train.batch_size = batch_size
  config.train.num_epochs = 1.0
  return config


GRAIN_WINDOW_S = 2.0


def _loop(compiled, step_input, it, state):
  """The trainer's inner loop: no sync between steps."""
  holder = {'state': state, 'step': 0}

  def run(k: int) -> None:
    state, step = holder['state'], holder['step']
    for step in range(step, step + k):
      state, metrics = compiled(state, step_input(it, step))
    jax.block_until_ready((state, metrics))
    holder['state'], holder['step'] = state, step + 1

  return run


def _step_input(program, seed: int, it):
  """The loop's inputs for 0-based step `step`: lib/trainer.py's own feed
  (each epoch's permutation drawn once; the grain iterator's next batch)."""
  feed = program.feed(seed, it)
  return lambda _, step: feed(step + 1)  # The loop counts steps from 1.


def _contenders(config, pipeline: str):
  """({'synthetic': ..., pipeline: ...}, model name, grain iterator or None):
  the same train step fed one fixed batch already on the device, and fed by
  `pipeline` through the trainer's own code."""
  mesh = parallel.make_mesh()
  config.data.pipeline = pipeline
  run = trainer.Run(config)
  program = trainer.Program(run, stacked=False, mesh=mesh)
  init = lambda: program.init(config.seed)
  compiled = program.step
  runners, it = {}, None
  if pipeline == 'grain':
    # One batch read without an iterator: no grain threads run while the
    # synthetic baseline is timed, except the grain contender's own.
    fixed = parallel.global_batch(run.data._train_dataset()[0], mesh)  # pylint: disable=protected-access
    runners['synthetic'] = _loop(compiled, lambda *_: fixed, None, init())
    it = run.data.train_iterator()
    runners['grain'] = _loop(compiled, _step_input(program, config.seed, it), it,
                             init())
  else:
    # The synthetic contender runs the grain-style step (the batch is an
    # argument); the device one gathers its batch inside the step.
    config.data.pipeline = 'grain'
    plain = trainer.Run(config)
    plain_step = trainer.Program(plain, stacked=False, mesh=mesh).step
    fixed = parallel.global_batch(plain.data._train_dataset()[0], mesh)  # pylint: disable=protected-access
    runners['synthetic'] = _loop(plain_step, lambda *_: fixed, None, init())
    runners[pipeline] = _loop(compiled, _step_input(program, config.seed, None),
                              None, init())
  return runners, run.model.__class__.__name__, it


def measure(datasets: list[str], batch_size: int, steps: int, warmup: int,
            max_seconds: float, digits_data_dir: str = '',
            mnist_examples: int = 60000, grain_workers: int = 0,
            min_windows: int = 3) -> list[dict]:
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    for name in datasets:
      if name == 'digits':
        config = digits_config(digits_data_dir, batch_size)
      elif name == 'mnist':
        data_dir = os.path.join(tmp, 'tfds')
        prepare_mnist_sized(data_dir, mnist_examples, max(batch_size, mnist_examples // 6))
        config = mnist_config(data_dir, batch_size)
      else:
        raise ValueError(f'unknown pipeline benchmark dataset {name!r}')
      config.data.worker_count = grain_workers
      spec = catalog.builder(config.data.name, config.data.data_dir).info
      shape = spec.features['image'].shape
      for pipeline in ('device', 'grain'):
        # Each pipeline against its own baseline, timed apart: grain's
        # read-ahead threads refill their buffer after a grain window ends,
        # which would slow whatever is timed next. Longer windows for grain
        # leave that refill a smaller share of the window it belongs to.
        runners, model, it = _contenders(config, pipeline)
        stats = timing.interleaved(
            runners, steps, warmup=warmup, max_seconds=max_seconds,
            min_window_s=GRAIN_WINDOW_S if pipeline == 'grain' else 0.2,
            min_windows=min_windows)
        if it is not None:
          it.close()  # Its read-ahead threads stop before the next timing.
        base, s = stats['synthetic']['median_s'], stats[pipeline]['median_s']
        rows.append({
            'dataset': name, 'input': 'x'.join(map(str, shape)),
            'train_examples': spec.splits['train'].num_examples,
            'pipeline': pipeline, 'model': model, 'batch_size': batch_size,
            'grain_workers': grain_workers if pipeline == 'grain' else None,
            'synthetic_step_ms': 1e3 * base,
            'pipeline_step_ms': 1e3 * s,
            'overhead_percent': 100.0 * (s / base - 1.0),
            'windows': stats[pipeline]['windows'],
        })
  return rows
