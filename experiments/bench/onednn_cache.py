r"""oneDNN against the compilation cache: what each gives, per model.

  ./launch.sh run experiments.bench.onednn_cache
  ./launch.sh run experiments.bench.onednn_cache --models=digits_grid,lenet5 \
      --out=experiments/results/onednn_cache

For each model's real train step (lib.train_step, as the trainer builds it,
the CPU gradient rewrites included) compiled twice in one process, with
XLA's oneDNN rewrites on and off (per compilation, as XLA_FLAGS would set
them for a process): how many oneDNN convolution custom calls the optimized
program holds, whether the executable serializes (what the persistent
compilation cache stores), the compile time, and the step time (alternating
windows, experiments/bench/timing.py). A step that does not serialize is
compiled again by every process; `break-even steps` is how many steps the
oneDNN step's gain takes to pay for that compile.

Models: digits_cnn (configs/cnn.py:digits), digits_grid (the digits grid's
CNN), and the bench's lenet5 (28x28x1) and resnet20 (32x32x3) cases, batch 128.
"""
import time

from absl import flags

from experiments import cli

_MODELS = flags.DEFINE_list('models', ['digits_cnn', 'digits_grid', 'lenet5', 'resnet20'],
                            'Models to measure.')
_OUT = flags.DEFINE_string('out', '', 'Write OUT.md.')

ON = {'xla_cpu_use_onednn': True, 'xla_cpu_experimental_onednn_custom_call': True}
OFF = {'xla_cpu_use_onednn': False, 'xla_cpu_experimental_onednn_custom_call': False}


def _digits_step(grid: bool):
  """The trainer's own step and inputs for a digits config."""
  from configs import cnn  # pylint: disable=g-import-not-at-top
  from lib import trainer  # pylint: disable=g-import-not-at-top
  config = cnn.get_config('digits')
  if grid:
    config.model.features, config.model.convs_per_block = (16, 32), 1
  program = trainer.Program(trainer.Run(config), stacked=False)
  inputs = (program.train_arrays, program.permutation(0, 0))
  return program.step, lambda: program.init(0), inputs


def _case_step(name: str):
  """The bench case's step on a synthetic batch (experiments/bench/cases.py)."""
  import jax  # pylint: disable=g-import-not-at-top
  from experiments.bench import cases, jax_steps  # pylint: disable=g-import-not-at-top
  from lib import cpu_gradients, models, optim, train_step  # pylint: disable=g-import-not-at-top
  case = cases.CASES[name]
  model = models.build(case.model_config(), case.num_classes,
                       rewrites=cpu_gradients.resolve('auto'))
  tx = optim.build(cases.optimizer_config(), total_steps=1, steps_per_epoch=1)
  init = jax.jit(lambda: train_step.init_state(model, tx, case.image_shape, seed=0))
  batch = jax.device_put(jax_steps.synthetic_batch(128, case.image_shape,
                                                   case.num_classes))
  step = jax.jit(train_step.make_train_step(model, tx), donate_argnums=0)
  return step, init, batch


def _serializes(compiled) -> str:
  try:
    compiled.runtime_executable().serialize()
    return 'yes'
  except Exception as e:  # pylint: disable=broad-except
    return f'no ({type(e).__name__}: {e})'


def measure(name: str) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  from experiments.bench import timing  # pylint: disable=g-import-not-at-top
  if name.startswith('digits_'):
    step, init, inputs = _digits_step(name == 'digits_grid')
  else:
    step, init, inputs = _case_step(name)
  row, runners = {'model': name}, {}
  for label, options in (('on', ON), ('off', OFF)):
    t0 = time.perf_counter()
    compiled = step.lower(init(), inputs).compile(options)
    row[f'compile_{label}_s'] = time.perf_counter() - t0
    row[f'onednn_convs_{label}'] = compiled.as_text().count(
        'custom_call_target="__onednn$convolution"')
    row[f'serializes_{label}'] = _serializes(compiled)
    holder = {'state': init()}

    def run(k, compiled=compiled, holder=holder):
      state = holder['state']
      for _ in range(k):
        state, metrics = compiled(state, inputs)
      jax.block_until_ready((state, metrics))
      holder['state'] = state
    runners[label] = run
  times = timing.interleaved(runners, steps=200, max_seconds=40.0, min_windows=9)
  row['step_on_ms'] = 1e3 * times['on']['median_s']
  row['step_off_ms'] = 1e3 * times['off']['median_s']
  gain = row['step_off_ms'] - row['step_on_ms']
  row['break_even_steps'] = (row['compile_on_s'] * 1e3 / gain if gain > 0 else None)
  return row


def main(argv):
  del argv
  from lib import xla_cpu  # pylint: disable=g-import-not-at-top
  xla_cpu.prepare_for('float32')  # oneDNN on for the process; each compile sets it.
  import jax  # pylint: disable=g-import-not-at-top
  rows = [measure(m) for m in _MODELS.value]
  md = [f'jax {jax.__version__}, {time.strftime("%Y-%m-%d")}; step medians over '
        'alternating windows, batch 128.', '',
        '| model | oneDNN convs in step | step serializes (on / off) | compile s (on / off) '
        '| step ms on | step ms off | off / on | break-even steps |',
        '|---|---|---|---|---|---|---|---|']
  for r in rows:
    ser = lambda s: 'yes' if s == 'yes' else 'no'
    be = f"{r['break_even_steps']:.0f}" if r['break_even_steps'] else 'never'
    md.append(f"| {r['model']} | {r['onednn_convs_on']} | {ser(r['serializes_on'])} / "
              f"{ser(r['serializes_off'])} | {r['compile_on_s']:.2f} / {r['compile_off_s']:.2f} "
              f"| {r['step_on_ms']:.2f} | {r['step_off_ms']:.2f} | "
              f"{r['step_off_ms'] / r['step_on_ms']:.2f}x | {be} |")
  failures = {r['serializes_on'] for r in rows if r['serializes_on'] != 'yes'}
  md += [''] + [f'Serialization error with oneDNN on: {f}' for f in sorted(failures)]
  print('\n'.join(md))
  if _OUT.value:
    with open(_OUT.value + '.md', 'w') as f:
      f.write('\n'.join(md) + '\n')


if __name__ == '__main__':
  cli.run(main)
