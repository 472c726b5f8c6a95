r"""Compare XLA CPU flag sets (and our max-pool gradient) on the train steps.

  python -m experiments.bench.xla_flags_study --models=cnn,mlp \
      --variant=default: \
      --variant=ynn_off:--xla_cpu_experimental_ynn_fusion_type= \
      --variant=ynn_reduce:--xla_cpu_experimental_ynn_fusion_type=reduce \
      --variant=old_pool:--bench_max_pool=reduce_window \
      --out=experiments/results/xla_flags

Every variant's train step is compiled in this one process with its flags
as per-compilation XLA options (`lowered.compile(options)`, the same debug
options XLA_FLAGS sets for a whole process), on top of this process's
XLA_FLAGS (the project defaults from lib/xla_cpu.py, or --xla_flags). The
variants of a row are then timed in alternating windows (A B C A B C ...),
so load from other processes hits all of them alike; the first variant is
the baseline of the ratios.

A variant is NAME:FLAGS, FLAGS in XLA_FLAGS syntax; list-valued fusion-type
flags take lower-case names (dot, eltwise, reduce, individual_dot,
individual_convolution). Two pseudo-flags trace the model as it was before
our changes: --bench_max_pool=reduce_window uses flax's max_pool and its
autodiff gradient instead of lib/pooling.py's, --bench_conv=plain uses
lax.conv_general_dilated instead of lib/conv.py's; --bench_conv=no_matmul and
--bench_conv=no_slices keep lib/conv.py but turn off one of its filter
gradients (as matrix products; large batches in slices);
--bench_pool_order=after_activation max-pools after the bias and activation,
as written, instead of before them (lib/layers.py).
"""
import contextlib
import json
import os

from absl import flags

from experiments import cli

_VARIANTS = flags.DEFINE_multi_string(
    'variant', None, 'NAME:FLAGS, repeatable; the first is the baseline.')
_MODELS = flags.DEFINE_list('models', ['logreg', 'mlp', 'cnn', 'lenet5', 'resnet20'],
                            'Benchmark cases.')
_BATCH_SIZES = flags.DEFINE_list('batch_sizes', None, "Batch sizes (default: "
                                 "each model's own).")
_STEPS = flags.DEFINE_integer('steps', 30, 'Timed steps per variant and row.')
_MAX_SECONDS = flags.DEFINE_float('max_seconds', 60.0, 'Time budget per row.')
_XLA_FLAGS = flags.DEFINE_string('xla_flags', '', 'Extra XLA flags for the '
                                 'whole process (under every variant).')
_OUT = flags.DEFINE_string('out', '', 'Write OUT.md and OUT.json.')
flags.mark_flag_as_required('variant')

POOL_FLAG, CONV_FLAG, ORDER_FLAG = 'bench_max_pool', 'bench_conv', 'bench_pool_order'


def compiler_options(text: str) -> tuple[dict, dict]:
  """XLA_FLAGS-style text -> (compile options, pseudo-flags)."""
  options, pseudo = {}, {}
  for token in text.split():
    name, _, value = token.lstrip('-').partition('=')
    if name in (POOL_FLAG, CONV_FLAG, ORDER_FLAG):
      pseudo[name] = value
    elif name.endswith('_fusion_type'):
      options[name] = ','.join(f'LIBRARY_FUSION_TYPE_{v.upper()}'
                               for v in value.split(',') if v)
    elif value.lower() in ('true', 'false'):
      options[name] = value.lower() == 'true'
    elif value.lstrip('-').isdigit():
      options[name] = int(value)
    else:
      options[name] = value
  return options, pseudo


@contextlib.contextmanager
def _as_before(pseudo: dict):
  """Traces with flax's own max_pool, plain convolutions and/or pooling
  after the activation, as the pseudo-flags ask."""
  from lib import conv, errors, layers, pooling  # pylint: disable=g-import-not-at-top
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  from jax import lax  # pylint: disable=g-import-not-at-top
  for flag, valid in ((POOL_FLAG, ('reduce_window',)),
                      (CONV_FLAG, ('plain', 'no_matmul', 'no_slices')),
                      (ORDER_FLAG, ('after_activation',))):
    if pseudo.get(flag, valid[0]) not in valid:
      raise errors.UserError(f'--{flag} takes one of {", ".join(valid)}, '
                             f'got {pseudo[flag]!r}')
  ours_pool = pooling.POOLINGS['max']
  ours_conv = conv.Conv.keywords['conv_general_dilated']
  ours_settings = conv.MATMUL_FILTER_GRADIENTS, conv.FILTER_GRAD_SLICE
  ours_order = layers.POOL_BEFORE_ACTIVATION
  if ORDER_FLAG in pseudo:
    layers.POOL_BEFORE_ACTIVATION = False
  if POOL_FLAG in pseudo:
    pooling.POOLINGS['max'] = lambda x, w, s, p: nn.max_pool(x, (w, w), (s, s), p)
  if pseudo.get(CONV_FLAG) == 'plain':  # The models hold lib.conv.Conv, a partial.
    conv.Conv.keywords['conv_general_dilated'] = lax.conv_general_dilated
  elif pseudo.get(CONV_FLAG) == 'no_matmul':
    conv.MATMUL_FILTER_GRADIENTS = False
  elif pseudo.get(CONV_FLAG) == 'no_slices':
    conv.FILTER_GRAD_SLICE = 0
  try:
    yield
  finally:
    pooling.POOLINGS['max'] = ours_pool
    conv.Conv.keywords['conv_general_dilated'] = ours_conv
    conv.MATMUL_FILTER_GRADIENTS, conv.FILTER_GRAD_SLICE = ours_settings
    layers.POOL_BEFORE_ACTIVATION = ours_order


def main(argv):
  del argv
  from lib import errors, xla_cpu  # pylint: disable=g-import-not-at-top
  xla_cpu.prepare_for('float32')
  if _XLA_FLAGS.value:
    os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {_XLA_FLAGS.value}".strip()
  from experiments.bench import cases, jax_steps, timing  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top

  variants = []
  for v in _VARIANTS.value:
    name, sep, text = v.partition(':')
    if not sep or not name:
      raise errors.UserError(f'--variant must be NAME:FLAGS, got {v!r}')
    variants.append((name, text, *compiler_options(text)))
  for m in _MODELS.value:
    if m not in cases.CASES:
      raise errors.unknown_name('benchmark model', m, cases.CASES)

  rows = []
  for m in _MODELS.value:
    case = cases.CASES[m]
    for b in [int(x) for x in _BATCH_SIZES.value or case.batch_sizes]:
      steps = {}
      for name, _, options, pseudo in variants:
        with _as_before(pseudo):
          try:
            steps[name] = jax_steps.build(case, b, options)
          except jax.errors.JaxRuntimeError as e:
            raise errors.UserError(f'variant {name!r}: {str(e).splitlines()[0]}') from None
      stats = timing.interleaved({n: s.run for n, s in steps.items()},
                                 _STEPS.value, max_seconds=_MAX_SECONDS.value)
      row = {'model': m, 'batch_size': b, 'load': os.getloadavg()[0],
             'variants': {n: {'step_ms': 1e3 * s['median_s'],
                              'best_step_ms': 1e3 * s['best_s'],
                              'windows': s['windows']}
                          for n, s in stats.items()}}
      rows.append(row)
      print(_line(row, variants[0][0]), flush=True)

  table = _table(rows, variants)
  print(table)
  if _OUT.value:
    os.makedirs(os.path.dirname(_OUT.value) or '.', exist_ok=True)
    with open(_OUT.value + '.md', 'w') as f:
      f.write(table + '\n')
    with open(_OUT.value + '.json', 'w') as f:
      json.dump({'xla_flags': os.environ.get('XLA_FLAGS', ''),
                 'variants': {n: t for n, t, *_ in variants}, 'rows': rows},
                f, indent=2)


def _line(row: dict, base: str) -> str:
  b = row['variants'][base]['step_ms']
  return f"{row['model']}@{row['batch_size']} (load {row['load']:.1f}): " + ', '.join(
      f"{n} {v['step_ms']:.2f} ms ({v['step_ms'] / b:.2f}x)"
      for n, v in row['variants'].items())


def _table(rows: list[dict], variants: list) -> str:
  base = variants[0][0]
  keys = [f"{r['model']}@{r['batch_size']}" for r in rows]
  head = '| variant | flags | ' + ' | '.join(keys) + ' |'
  lines = [f'ms/step: median of alternating windows (best window in brackets), '
           f'and the ratio to {base!r}', '', head,
           '|' + '---|' * (head.count('|') - 1)]
  for name, text, *_ in variants:
    cells = []
    for r in rows:
      v, b = r['variants'][name], r['variants'][base]
      cells.append(f"{v['step_ms']:.2f} ({v['best_step_ms']:.2f}) "
                   f"{v['step_ms'] / b['step_ms']:.2f}x")
    lines.append(f"| {name} | `{text or '(defaults)'}` | " + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


if __name__ == '__main__':
  cli.run(main)
