r"""One prepared check of an accelerator machine, written to one JSON and one
Markdown file. Made for a borrowed GPU (8 minutes, no network); on CPU,
`--quick` runs every section small, so the script is known to work before
it first meets a GPU.

  python -m experiments.bench.device_check --out=$OUT            # the GPU check
  python -m experiments.bench.device_check --quick --out=/tmp/dc   # CPU rehearsal

On the borrowed GPU machine the packages it lacks come as carried wheels
(experiments/bench/device_wheels.sh, device_install.sh; README "GPUs and
TPUs"); without them this stops at once with one `error:` line (exit 2).

Sections (--sections to choose and order; by default tests run last):
  tests      the fast test suite (-m "not slow") on this machine
  gradients  the whole-model gradient check (tests/whole_model_gradients.py):
             our rewrites against JAX's autodiff, jit, float64 and float32, on
             the models of tests/test_whole_model_gradients.py and judged by
             its tolerances ('failures'; the tests section leaves it out)
  steps      train-step throughput of the CNN, ResNet-20 (batch 512) and
             ResNet-50 (224x224, bfloat16, the largest batch up to 256 that
             fits), CPU gradient rewrites off and on: images/s and the
             fraction of the chip's dense bf16 peak
  seeds      5 seeds of the digits CNN vmapped in one program against 5 one
             after another (experiments.seeds --seeds_per_program=0 / 1)
  resume     a short digits run, interrupted after a checkpoint and resumed:
             its final parameters against an unbroken run's
"""
import importlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time

from absl import flags

from experiments import cli

_OUT = flags.DEFINE_string('out', None, 'Directory for device_check.{json,md}.')
_QUICK = flags.DEFINE_bool('quick', False, 'Tiny sizes everywhere (a CPU rehearsal).')
# The measurements first, the test suite (the longest, least bounded) last,
# so that --max_seconds cuts the suite rather than the figures.
SECTIONS = ('gradients', 'steps', 'seeds', 'resume', 'tests')
_SECTIONS = flags.DEFINE_list('sections', list(SECTIONS),
                              'Which sections to run, in this order.')
_MAX_SECONDS = flags.DEFINE_float(
    'max_seconds', 480, 'Time for all sections: each waits at most what is left, and '
    'those with none left are skipped (a borrowed device is lent by the minute).')
flags.mark_flags_as_required(['out'])

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Dense bf16 peak per chip, from the vendors' data sheets (no sparsity).
BF16_PEAK_FLOPS = {'H200': 989e12, 'H100': 989e12, 'A100': 312e12, 'L40S': 362e12,
                   'TPU v5 lite': 197e12, 'TPU v4': 275e12}


# What the sections import beyond absl and jax: the borrowed GPU machine has
# the first four, the others only from the carried wheels.
# tensorflow_datasets imports its core lazily: its builder module is named
# so that what it needs (promise -> six, wrapt) is imported here, not first
# in the middle of a section.
REQUIRED_MODULES = ('flax', 'optax', 'orbax.checkpoint', 'sklearn', 'grain',
                    'tensorflow_datasets', 'tensorflow_datasets.core.dataset_builder',
                    'array_record', 'ml_collections', 'tensorboardX', 'mlxtend',
                    'portpicker')
# Recorded in the report: the GPU machine's own versions are not ours.
VERSIONS_OF = ('jax', 'jaxlib', 'jax-cuda13-plugin', 'jax-cuda12-plugin', 'flax', 'optax',
               'orbax-checkpoint', 'numpy', 'protobuf', 'grain', 'tensorflow-datasets',
               'pytest')


def missing_modules() -> list[str]:
  """`module (why)` for each of REQUIRED_MODULES that does not import."""
  missing = []
  # tensorflow_datasets logs a failed import's traceback before raising it;
  # the one error line below says it.
  absl_logger = logging.getLogger('absl')
  level = absl_logger.level
  absl_logger.setLevel(logging.CRITICAL)
  try:
    for module in REQUIRED_MODULES:
      try:
        importlib.import_module(module)
      except Exception as e:  # pylint: disable=broad-except
        # Not only ImportError: a protobuf too old for a package's generated code.
        why = (str(e).strip().splitlines() or [''])[0][:200]
        missing.append(f'{module} ({type(e).__name__}: {why})')
  finally:
    absl_logger.setLevel(level)
  return missing


# The gradients section runs this test's check (with its tolerances), so the
# tests section leaves it out rather than spend the time twice.
GRADIENT_TEST = 'tests/test_whole_model_gradients.py::test_small_models_and_resnet18_at_imagenet_size'
_deadline = float('inf')  # time.perf_counter() when --max_seconds is spent.


def _left() -> float:
  return _deadline - time.perf_counter()


def _python(*args: str, timeout: float, tail: int = 1500) -> dict:
  """Runs `python args` from the repo root: exit status, seconds, output tail."""
  start = time.perf_counter()
  timeout = max(1.0, min(timeout, _left()))
  try:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    rc, out = proc.returncode, proc.stdout + proc.stderr
  except subprocess.TimeoutExpired as e:
    rc, out = 'timeout', (e.stdout or b'').decode(errors='replace') if isinstance(
        e.stdout, bytes) else (e.stdout or '')
  return {'rc': rc, 'seconds': round(time.perf_counter() - start, 1),
          'tail': out[-tail:]}


def tests_section(quick: bool) -> dict:
  # Not -x: one failure on a new backend should not hide the others.
  args = ['-m', 'pytest', '-q', '-m', 'not slow', '-p', 'no:cacheprovider', '--tb=line']
  if quick:
    args.append('tests/test_accelerator.py')
  else:  # The gradients section runs this test's check, with its verdict.
    args += ['tests', '--deselect', GRADIENT_TEST]
  return _python(*args, timeout=240 if not quick else 120, tail=6000)


def gradients_section(quick: bool) -> dict:
  from tests import test_whole_model_gradients as test  # pylint: disable=g-import-not-at-top
  specs = ['cnn', 'lenet5'] if quick else test.FAST
  result = _python('-m', 'tests.whole_model_gradients', f'--models={",".join(specs)}',
                   '--rewrites=auto,on', timeout=300, tail=10**7)
  if result['rc'] == 0:  # Its JSON line, among any warnings.
    line = next(l for l in reversed(result['tail'].splitlines()) if l.startswith('[{'))
    result['checks'] = json.loads(line)
    result['failures'] = test._failures(result['checks'])  # pylint: disable=protected-access
    result['tail'] = ''
  return result


def steps_section(quick: bool) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from experiments.bench import cases, jax_steps, timing  # pylint: disable=g-import-not-at-top
  from lib import cpu_gradients  # pylint: disable=g-import-not-at-top
  kind = jax.devices()[0].device_kind
  peak = next((v for k, v in BF16_PEAK_FLOPS.items() if k in kind), None)
  plan = ([('cnn', [32], 'float32'), ('resnet20', [16], 'float32')] if quick else
          [('cnn', [512], 'float32'), ('resnet20', [512], 'float32'),
           ('resnet50', [256, 128, 64], 'bfloat16')])
  rows = []
  for name, batches, dtype in plan:
    for rewrites in ('off', 'on'):
      if _left() <= 0:
        rows.append({'model': name, 'rewrites': rewrites, 'skipped': 'out of time'})
        continue
      for batch in batches:  # The first batch that fits.
        try:
          step = jax_steps.build(cases.CASES[name], batch,
                                 gradient_rewrites=cpu_gradients.resolve(rewrites),
                                 dtype=getattr(jnp, dtype))
          stats = timing.interleaved({'step': step.run}, steps=3 if quick else 30,
                                     max_seconds=5 if quick else 20)['step']
        except Exception as e:  # pylint: disable=broad-except
          if 'RESOURCE_EXHAUSTED' in str(e) and batch != batches[-1]:
            continue  # Out of memory: try the next smaller batch.
          rows.append({'model': name, 'batch': batch, 'rewrites': rewrites,
                       'error': f'{type(e).__name__}: {str(e).splitlines()[0][:300]}'})
          break
        seconds = stats['median_s']
        rows.append({'model': name, 'batch': batch, 'dtype': dtype, 'rewrites': rewrites,
                     'compile_s': round(step.compile_s, 2),
                     'images_per_s': round(batch / seconds, 1),
                     'flop_per_s': step.flops_per_step / seconds,
                     'fraction_of_bf16_peak': (step.flops_per_step / seconds / peak
                                               if peak else None)})
        break
  return {'device_kind': kind, 'bf16_peak_flops': peak, 'rows': rows}


def seeds_section(quick: bool, scratch: str, data_dir: str) -> dict:
  steps = 20 if quick else 440
  out = {}
  for name, per_program in (('vmapped', 0), ('sequential', 1)):
    out[name] = _python(
        '-m', 'experiments.seeds', '--config=configs/cnn.py:digits', '--seeds=5',
        f'--seeds_per_program={per_program}', f'--out={scratch}/seeds_{name}',
        f'--config.data.data_dir={data_dir}', '--config.train.num_epochs=0',
        f'--config.train.num_steps={steps}', timeout=300)
  return out


def resume_section(quick: bool, scratch: str, data_dir: str) -> dict:
  import numpy as np  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from lib import checkpointing  # pylint: disable=g-import-not-at-top
  steps = 20 if quick else 200
  common = ['-m', 'experiments.train', '--config=configs/cnn.py:digits',
            f'--config.data.data_dir={data_dir}', '--config.train.num_epochs=0',
            f'--config.train.num_steps={steps}',
            f'--config.train.checkpoint_every_steps={steps // 2}']
  unbroken = _python(*common, f'--workdir={scratch}/unbroken', timeout=200)
  first = _python(*common, f'--workdir={scratch}/resumed', timeout=200)
  # As if killed after the middle checkpoint: the final one and results go.
  subprocess.run(['rm', '-rf', f'{scratch}/resumed/checkpoints/{steps}',
                  f'{scratch}/resumed/results.json'], check=True)
  second = _python(*common, f'--workdir={scratch}/resumed', timeout=200)
  result = {'unbroken': unbroken, 'first': first, 'resumed': second}
  if all(r['rc'] == 0 for r in result.values()):
    a = checkpointing.load_state(f'{scratch}/unbroken/checkpoints')['params']
    b = checkpointing.load_state(f'{scratch}/resumed/checkpoints')['params']
    result['max_abs_param_difference'] = float(max(
        np.max(np.abs(np.asarray(x) - np.asarray(y)))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))))
    result['resumed_from_checkpoint'] = f'resumed from the checkpoint at step {steps // 2}' in second['tail']
  return result


def _markdown(report: dict) -> str:
  lines = [f"# Device check, {report['date']}", '', f"`{report['backend']}`", '']
  for name, section in report['sections'].items():
    lines += [f'## {name}', '', '```json', json.dumps(section, indent=1)[:4000], '```', '']
  return '\n'.join(lines)


def main(argv):
  del argv
  global _deadline
  _deadline = time.perf_counter() + _MAX_SECONDS.value
  from lib import errors  # pylint: disable=g-import-not-at-top
  missing = missing_modules()
  if missing:
    raise errors.UserError(
        f'cannot import {"; ".join(missing)}: on a machine without them, make the wheels '
        'where PyPI answers (experiments/bench/device_wheels.sh), carry .whl and start '
        'with `bash experiments/bench/device_install.sh && PYTHONPATH=/tmp/site ...` '
        '(README, "GPUs and TPUs")')
  for name in _SECTIONS.value:
    if name not in SECTIONS:
      raise errors.UserError(f'unknown section {name!r}; use {", ".join(SECTIONS)}')
  # Sections start JAX processes of their own (tests, gradients, seeds,
  # resume) beside this one: with JAX's default (75% of the GPU's memory
  # taken at start-up) the second process to start would find too little.
  os.environ.setdefault('XLA_PYTHON_CLIENT_PREALLOCATE', 'false')
  from lib import accelerator, provenance, xla_cpu  # pylint: disable=g-import-not-at-top
  from lib.data import catalog  # pylint: disable=g-import-not-at-top
  xla_cpu.prepare_for('float32')
  os.makedirs(_OUT.value, exist_ok=True)
  # Not under --out: a check stopped at the device's time limit would leave
  # its files there, and only 8 files come back from the device's $OUT.
  scratch = tempfile.mkdtemp(prefix='device_check_')
  data_dir = os.path.join(scratch, 'data')
  catalog.prepare_embedded('digits', data_dir)
  report = {'date': time.strftime('%Y-%m-%d %H:%M:%S %Z'), 'backend': accelerator.describe(),
            'quick': _QUICK.value, 'python': sys.executable,
            'versions': provenance.versions(VERSIONS_OF),
            'XLA_PYTHON_CLIENT_PREALLOCATE': os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'],
            'sections': {}}
  sections = {
      'tests': lambda: tests_section(_QUICK.value),
      'gradients': lambda: gradients_section(_QUICK.value),
      'steps': lambda: steps_section(_QUICK.value),
      'seeds': lambda: seeds_section(_QUICK.value, scratch, data_dir),
      'resume': lambda: resume_section(_QUICK.value, scratch, data_dir),
  }
  for name in _SECTIONS.value:
    start = time.perf_counter()
    try:
      report['sections'][name] = (
          sections[name]() if _left() > 0 else
          {'skipped': f'out of time (--max_seconds={_MAX_SECONDS.value:g})'})
    except Exception as e:  # pylint: disable=broad-except
      report['sections'][name] = {'error': f'{type(e).__name__}: {e}'[:2000]}
    report['sections'][name]['section_seconds'] = round(time.perf_counter() - start, 1)
    with open(os.path.join(_OUT.value, 'device_check.json'), 'w') as f:
      json.dump(report, f, indent=1, default=str)  # After each: a timeout keeps the rest.
    done = report['sections'][name]
    print(f'{name}: ' + ('skipped, out of time' if 'skipped' in done else
                         f'done in {done["section_seconds"]} s'), flush=True)
  subprocess.run(['rm', '-rf', scratch], check=False)
  with open(os.path.join(_OUT.value, 'device_check.md'), 'w') as f:
    f.write(_markdown(report))


if __name__ == '__main__':
  cli.run(main)
