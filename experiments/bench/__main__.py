r"""Training-speed benchmark: our train steps next to PyTorch's, same run.

  python -m experiments.bench                                  # everything
  python -m experiments.bench --models=cnn,mlp --batch_sizes=128,512 \
      --steps=100 --out=experiments/results/bench              # .md + .json
  python -m experiments.bench --models= --pipeline=digits,mnist  # input only

For each model (experiments/bench/cases.py) and batch size it times the
project's jitted train step (donated state, SGD + momentum from lib.optim) on
synthetic data already on the device, and the same network in plain PyTorch
(experiments/bench/torch_models.py) on the same batch, in alternating
windows after warm-up; it prints examples/s, step time, FLOPs per example
(XLA cost analysis of the compiled step), the achieved FLOP/s and its
fraction of the float32 matmul peak measured at the start of the run, and
ours/PyTorch. Then it times the trainer's loop with the real input pipelines
(grain and device) against synthetic data (experiments/bench/input_pipeline.py).

PyTorch is optional: `pip install -r experiments/bench/requirements.txt`
(torch==2.13.0, CPU); without it the table has our numbers only and says why.
--xla_flags adds XLA flags for this run (e.g. to compare CPU fusion modes);
the project's defaults from lib/xla_cpu.py are set first.
"""
import datetime
import importlib.util
import os
import platform

from absl import flags

from experiments import cli

_MODELS = flags.DEFINE_list(
    'models', None, 'Benchmark cases to time (default: all of '
    'experiments/bench/cases.py); empty to skip the train-step table.')
_BATCH_SIZES = flags.DEFINE_list(
    'batch_sizes', None, 'Batch sizes for every model (default: each '
    "model's own: 128,512 for the small ones, 16 for AlexNet, 8 for ResNet-50).")
_STEPS = flags.DEFINE_integer('steps', 50, 'Timed steps per framework and row.')
_WARMUP = flags.DEFINE_integer('warmup', 3, 'Untimed steps after compilation.')
_MAX_SECONDS = flags.DEFINE_float(
    'max_seconds', 60.0, 'Time budget per row (both frameworks together); at '
    'least --min_windows windows each are timed anyway.')
_MIN_WINDOWS = flags.DEFINE_integer(
    'min_windows', 15, 'Timing windows per contender at least: the median of '
    'few windows moves with the load of a shared machine.')
_TORCH = flags.DEFINE_bool('torch', True, 'Also time PyTorch, if installed.')
_TORCH_POOL_FIRST = flags.DEFINE_bool(
    'torch_pool_first', False, "PyTorch's CNN max-pools before its ReLU, as "
    'ours does by itself (by default it is written conv -> relu -> pool).')
_PIPELINE = flags.DEFINE_list(
    'pipeline', ['digits', 'mnist'], 'Datasets for the input-pipeline '
    'overhead table (digits, mnist); empty to skip it.')
_PIPELINE_BATCH = flags.DEFINE_integer('pipeline_batch_size', 128,
                                       'Batch size of the pipeline table.')
_PIPELINE_STEPS = flags.DEFINE_integer(
    'pipeline_steps', 200, 'Timed steps per contender in the pipeline table '
    '(its differences are small, so it takes more windows than the step table).')
_MNIST_EXAMPLES = flags.DEFINE_integer(
    'mnist_examples', 60000, 'Training examples of the generated MNIST-sized '
    'dataset.')
_GRAIN_WORKERS = flags.DEFINE_integer(
    'grain_workers', 0, 'data.worker_count of the grain pipeline rows '
    '(0: in the training process, as the configs default).')
_DATA_DIR = flags.DEFINE_string('data_dir', '', 'TFDS data_dir for digits '
                                '(default $TFDS_DATA_DIR or ~/tensorflow_datasets).')
_PEAK_SIZE = flags.DEFINE_integer('peak_size', 2048, 'Matrix size of the '
                                  'matmul peak measurement.')
_PEAK_REPEATS = flags.DEFINE_integer('peak_repeats', 10, 'Matmul repeats.')
_XLA_FLAGS = flags.DEFINE_string('xla_flags', '', 'Extra XLA flags for this run.')
_OUT = flags.DEFINE_string('out', '', 'Write OUT.md and OUT.json.')


def _machine() -> str:
  model = ''
  try:
    with open('/proc/cpuinfo') as f:
      model = next((l.split(':', 1)[1].strip() for l in f
                    if l.startswith('model name')), '')
  except OSError:
    pass
  return f"{os.cpu_count()}-core {platform.machine()} CPU{f' ({model})' if model else ''}"


def _parse_settings():
  from experiments.bench import cases  # pylint: disable=g-import-not-at-top
  from lib import errors  # pylint: disable=g-import-not-at-top
  names = [m for m in (_MODELS.value if _MODELS.value is not None
                       else cases.DEFAULT_MODELS) if m]
  unknown = [m for m in names if m not in cases.CASES]
  if unknown:
    raise errors.unknown_name('benchmark model', unknown[0], cases.CASES)
  try:
    batch_sizes = [int(b) for b in _BATCH_SIZES.value or []]
  except ValueError:
    raise errors.UserError(
        f'--batch_sizes must be integers, got {",".join(_BATCH_SIZES.value)}'
    ) from None
  if any(b <= 0 for b in batch_sizes) or _STEPS.value <= 0:
    raise errors.UserError('--batch_sizes and --steps must be positive')
  bad = [d for d in _PIPELINE.value if d not in ('digits', 'mnist')]
  if bad:
    raise errors.unknown_name('pipeline dataset', bad[0], ('digits', 'mnist'))
  return [(cases.CASES[m], b) for m in names
          for b in (batch_sizes or cases.CASES[m].batch_sizes)]


def _torch_module():
  """experiments.bench.torch_models, or a reason why PyTorch is not timed."""
  if not _TORCH.value:
    return None, 'not timed (--notorch)'
  if importlib.util.find_spec('torch') is None:
    return None, ('not installed, so not timed; pip install -r '
                  'experiments/bench/requirements.txt')
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(os.cpu_count())
  from experiments.bench import torch_models  # pylint: disable=g-import-not-at-top
  torch_models.POOL_FIRST = _TORCH_POOL_FIRST.value
  return torch_models, ''


def main(argv):
  del argv
  from lib import xla_cpu  # pylint: disable=g-import-not-at-top
  xla_cpu.prepare_for('float32')
  if _XLA_FLAGS.value:
    os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {_XLA_FLAGS.value}".strip()
  rows = _parse_settings()  # Bad flags fail here, before any timing.

  import jax  # pylint: disable=g-import-not-at-top
  from experiments.bench import input_pipeline, report, train_speed  # pylint: disable=g-import-not-at-top
  from lib import flops, progress  # pylint: disable=g-import-not-at-top

  torch_models, torch_missing = _torch_module()
  env = {
      'date': datetime.date.today().isoformat(), 'machine': _machine(),
      'cpu_count': os.cpu_count(), 'load_before': os.getloadavg(),
      'jax_version': jax.__version__, 'jax_backend': jax.default_backend(),
      'jax_devices': jax.device_count(),
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
      'peak_repeats': _PEAK_REPEATS.value,
      'matmul_peak_jax': flops.matmul_peak(_PEAK_SIZE.value, _PEAK_REPEATS.value),
      'matmul_peak_torch': None, 'torch': None, 'torch_missing': torch_missing,
  }
  if torch_models is not None:
    env['torch'] = torch_models.threads()
    env['matmul_peak_torch'] = torch_models.matmul_peak(_PEAK_SIZE.value,
                                                        _PEAK_REPEATS.value)
  peak = env['matmul_peak_jax']['flops_per_s_best']
  progress.say(report.environment_lines({**env, 'load_after': os.getloadavg()}))

  speed_rows = []
  for case, batch_size in rows:
    row = train_speed.measure(case, batch_size, _STEPS.value, _WARMUP.value,
                              _MAX_SECONDS.value, peak, torch_models,
                              _MIN_WINDOWS.value)
    speed_rows.append(row)
    progress.say(report.speed_table([row]).splitlines()[-1])

  pipeline_rows = []
  if _PIPELINE.value:
    pipeline_rows = input_pipeline.measure(
        _PIPELINE.value, _PIPELINE_BATCH.value, _PIPELINE_STEPS.value,
        _WARMUP.value, 2 * _MAX_SECONDS.value, _DATA_DIR.value, _MNIST_EXAMPLES.value,
        _GRAIN_WORKERS.value, _MIN_WINDOWS.value)

  env['load_after'] = os.getloadavg()
  progress.say('')
  progress.say(report.markdown(env, speed_rows, pipeline_rows))
  if _OUT.value:
    md_path, json_path = report.write(_OUT.value, env, speed_rows, pipeline_rows)
    progress.say(f'wrote {md_path} and {json_path}')


if __name__ == '__main__':
  cli.run(main)
