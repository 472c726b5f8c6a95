r"""Where a train step's time goes: XLA ops ranked by time, from a jax trace.

  python -m experiments.bench.profile --model=cnn --batch_size=128
  python -m experiments.bench.profile --model=resnet20 --top=40 \
      --xla_flags=--xla_cpu_experimental_ynn_fusion_type=
  python -m experiments.bench.profile --model=resnet20 --torch  # PyTorch's

Runs the benchmark's train step (experiments/bench/jax_steps.py) under
jax.profiler, reads the trace back (jax.profiler.ProfileData, no TensorBoard
needed) and prints each XLA op (a fusion, convolution, dot, ...) with its
time per step, share of the step and, with --hlo, the op's HLO line so a
convolution and its gradient can be told apart. The trace directory is kept
for TensorBoard/Perfetto when --trace_dir is given.
"""
import collections
import glob
import os
import re
import tempfile

from absl import flags

from experiments import cli

_MODEL = flags.DEFINE_string('model', 'cnn', 'Benchmark case (cases.py).')
_BATCH = flags.DEFINE_integer('batch_size', 128, 'Batch size.')
_STEPS = flags.DEFINE_integer('steps', 10, 'Profiled steps.')
_TOP = flags.DEFINE_integer('top', 25, 'Ops to list.')
_HLO = flags.DEFINE_bool('hlo', True, "Print each op's HLO instruction.")
_TRACE_DIR = flags.DEFINE_string('trace_dir', '', 'Keep the trace here.')
_XLA_FLAGS = flags.DEFINE_string('xla_flags', '', 'Extra XLA flags.')
_TORCH = flags.DEFINE_bool('torch', False, "Profile the PyTorch twin instead "
                           '(torch.profiler, ops by self CPU time).')


def op_times(trace_dir: str) -> tuple[collections.Counter, collections.Counter]:
  """Total ns and call count per XLA op name over the trace's CPU threads."""
  import jax  # pylint: disable=g-import-not-at-top
  path = glob.glob(os.path.join(trace_dir, '**', '*.xplane.pb'), recursive=True)[0]
  total, count = collections.Counter(), collections.Counter()
  for plane in jax.profiler.ProfileData.from_file(path).planes:
    for line in plane.lines:
      if not line.name.startswith('tf_XLA'):  # XLA's executor and Eigen threads.
        continue
      for event in line.events:
        if event.name.startswith('ThunkExecutor'):
          continue
        total[event.name] += event.duration_ns
        count[event.name] += 1
  return total, count


def hlo_lines(hlo_text: str) -> dict[str, str]:
  """Op name -> its instruction (shape, opcode, operands) in the entry."""
  lines = {}
  for line in hlo_text.splitlines():
    m = re.match(r'\s*(?:ROOT )?%?([\w.\-]+) = (.*)', line)
    if m:
      text = re.sub(r', (metadata|backend_config|frontend_attributes)=.*', '', m.group(2))
      lines[m.group(1)] = text
  return lines


def profile_torch(case, batch_size: int, steps: int, top: int) -> None:
  """The PyTorch twin's step under torch.profiler: where its time goes."""
  import torch  # pylint: disable=g-import-not-at-top
  from experiments.bench import jax_steps, torch_models  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(os.cpu_count())
  batch = jax_steps.synthetic_batch(batch_size, case.image_shape, case.num_classes)
  step = torch_models.build(case, batch_size, batch['image'], batch['label'])
  step.run(3)
  with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
    step.run(steps)
  events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
  all_us = sum(e.self_cpu_time_total for e in events)
  print(f'{case.name} batch {batch_size} (PyTorch): {all_us / 1e3 / steps:.2f} ms '
        'of ops per step (self CPU time)')
  for e in events[:top]:
    print(f'{e.self_cpu_time_total / 1e3 / steps:8.3f} ms '
          f'{100 * e.self_cpu_time_total / all_us:5.1f}%  x{e.count / steps:<4g} {e.key}')


def main(argv):
  del argv
  from lib import errors, xla_cpu  # pylint: disable=g-import-not-at-top
  xla_cpu.prepare_for('float32')
  if _XLA_FLAGS.value:
    os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {_XLA_FLAGS.value}".strip()
  from experiments.bench import cases, jax_steps  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  if _MODEL.value not in cases.CASES:
    raise errors.unknown_name('benchmark model', _MODEL.value, cases.CASES)
  if _TORCH.value:
    import importlib.util  # pylint: disable=g-import-not-at-top
    if importlib.util.find_spec('torch') is None:
      raise errors.UserError('--torch needs PyTorch: pip install -r '
                             'experiments/bench/requirements.txt')
    return profile_torch(cases.CASES[_MODEL.value], _BATCH.value, _STEPS.value,
                         _TOP.value)
  step = jax_steps.build(cases.CASES[_MODEL.value], _BATCH.value)
  step.run(3)
  trace_dir = _TRACE_DIR.value or tempfile.mkdtemp(prefix='bench_profile_')
  with jax.profiler.trace(trace_dir):
    step.run(_STEPS.value)
  total, count = op_times(trace_dir)
  hlo = hlo_lines(step.hlo_text) if _HLO.value else {}
  all_ns = sum(total.values())
  print(f'{_MODEL.value} batch {_BATCH.value}: {all_ns / 1e6 / _STEPS.value:.2f} ms '
        f'of XLA ops per step; XLA_FLAGS={os.environ.get("XLA_FLAGS", "")!r}')
  for name, ns in total.most_common(_TOP.value):
    print(f'{ns / 1e6 / _STEPS.value:8.3f} ms {100 * ns / all_ns:5.1f}%  '
          f'x{count[name] / _STEPS.value:<4g} {name}  {hlo.get(name, "")[:160]}')
  if _TRACE_DIR.value:
    print(f'trace kept in {trace_dir}')


if __name__ == '__main__':
  cli.run(main)
