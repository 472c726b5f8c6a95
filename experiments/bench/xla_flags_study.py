r"""Compare XLA CPU flag sets (and lib/cpu_gradients' rewrites) on the train steps.

  python -m experiments.bench.xla_flags_study --models=cnn,mlp \
      --variant=default: \
      --variant=ynn_off:--xla_cpu_experimental_ynn_fusion_type= \
      --variant=ynn_reduce:--xla_cpu_experimental_ynn_fusion_type=reduce \
      --variant=no_rewrites:--fast_cpu_gradients=off \
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
individual_convolution). One pseudo-flag chooses lib/cpu_gradients' rewrites
for the variant, as the config's train.fast_cpu_gradients does:
--fast_cpu_gradients=off traces the plain models with JAX's own gradients,
=on (or =auto, the default) all the rewrites, and a comma-separated list of
rewrite names (max_pool, conv_barrier, matmul_filter_grad,
sliced_filter_grad, pool_first) only those, for an A/B of each.
"""
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

REWRITES_FLAG = 'fast_cpu_gradients'


def compiler_options(text: str) -> tuple[dict, dict]:
  """XLA_FLAGS-style text -> (compile options, pseudo-flags)."""
  options, pseudo = {}, {}
  for token in text.split():
    name, _, value = token.lstrip('-').partition('=')
    if name == REWRITES_FLAG:
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


def rewrites(pseudo: dict) -> frozenset[str]:
  """The variant's lib/cpu_gradients rewrites (default: the trainer's 'auto')."""
  from lib import cpu_gradients, errors  # pylint: disable=g-import-not-at-top
  value = pseudo.get(REWRITES_FLAG, 'auto')
  try:
    return cpu_gradients.resolve(value)
  except errors.UserError:
    raise errors.UserError(
        f'--{REWRITES_FLAG} takes {", ".join(cpu_gradients.SETTINGS)} or '
        f'rewrite names ({", ".join(cpu_gradients.REWRITES)}), got {value!r}'
    ) from None


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
    options, pseudo = compiler_options(text)
    rewrites(pseudo)  # A bad value fails before anything compiles.
    variants.append((name, text, options, pseudo))
  for m in _MODELS.value:
    if m not in cases.CASES:
      raise errors.unknown_name('benchmark model', m, cases.CASES)

  rows = []
  for m in _MODELS.value:
    case = cases.CASES[m]
    for b in [int(x) for x in _BATCH_SIZES.value or case.batch_sizes]:
      steps = {}
      for name, _, options, pseudo in variants:
        try:
          steps[name] = jax_steps.build(case, b, options, rewrites(pseudo))
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
