r"""Every model's gradient with lib/cpu_gradients' rewrites against JAX's own.

  python -m tests.whole_model_gradients --models=resnet18@224,cnn [--rewrites=on]
  python -m tests.whole_model_gradients --models='lenet5:pooling=max;activation=relu'

For each model (`name` at its smallest input, or `name@SIZE`, with settings
after a colon, separated by semicolons) this compiles,
with jax.jit, the train step's loss gradient (lib.train_step.loss_and_grads:
train mode, so BatchNorm uses batch statistics and dropout is on) four ways:
float64 and float32, each with the rewrites and with none (JAX's own autodiff
of the plain model). float64 without rewrites is the truth. It prints one
JSON object: per model and rewrite set, for every leaf of the gradient and of
the updated model state, the error max|a - truth| / max|truth| of float64
with rewrites, of float32 with rewrites and of float32 without them.

float64 needs jax_enable_x64, which must be set before JAX computes anything,
so tests/test_whole_model_gradients.py runs this in a subprocess. The XLA
flags are the ones the trainer sets (lib/xla_cpu.py), and the backend is
whatever JAX picks, so on a GPU machine this checks the GPU's programs.
"""
import json

from absl import app, flags

_MODELS = flags.DEFINE_list('models', None, 'Models, as NAME[@SIZE][:FIELD=VALUE;...].')
_REWRITES = flags.DEFINE_list(
    'rewrites', ['auto', 'on'], 'train.fast_cpu_gradients settings to check; '
    'settings that give the same rewrites on this backend are checked once.')
_BATCH = flags.DEFINE_integer('batch', 2, 'Examples per batch.')
flags.mark_flag_as_required('models')

# The smallest input where every layer of the model runs (H, W, C).
SMALLEST_INPUT = {
    'logistic_regression': (8, 8, 1), 'mlp': (8, 8, 1), 'cnn': (8, 8, 1),
    'lenet5': (28, 28, 1),                          # Padded to 32 inside.
    'alexnet': (63, 63, 3), 'alexnet_paper': (63, 63, 3),  # Three 3x3/2 pools.
    **{f'resnet{d}': (32, 32, 3) for d in (18, 34, 50, 101, 152)},  # 1x1 at the end.
    **{f'resnet{d}': (8, 8, 3) for d in (20, 32, 44, 56, 110)},
}


def _value(text: str):
  for kind in (int, float):
    try:
      return kind(text)
    except ValueError:
      pass
  return text


def parse(spec: str) -> tuple[str, tuple[int, int, int], dict]:
  """'name[@SIZE][:field=value;...]' -> (name, input shape, model settings)."""
  spec, _, settings = spec.partition(':')
  name, _, size = spec.partition('@')
  shape = SMALLEST_INPUT[name]
  if size:
    shape = (int(size), int(size), shape[2])
  fields = dict(kv.split('=', 1) for kv in settings.split(';') if kv)
  return name, shape, {k: _value(v) for k, v in fields.items()}


def leaf_errors(result, truth) -> dict[str, float]:
  """max|result - truth| / max|truth| for every leaf, by its path."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  out = {}
  for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(result)[0],
                          jax.tree.leaves(truth)):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.abs(b).max()
    out[jax.tree_util.keystr(path)] = float(
        np.abs(a - b).max() / scale if scale else np.abs(a).max())
  return out


def check(spec: str, settings: list[str], batch: int) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top
  from lib import cpu_gradients, models, train_step  # pylint: disable=g-import-not-at-top

  name, shape, fields = parse(spec)
  classes = 1000 if shape[0] >= 224 else 10
  config = ml_collections.ConfigDict({'name': name, **fields})
  build = lambda dtype, rewrites=frozenset(): models.build(
      config, classes, rewrites, dtype=dtype)
  model32 = build(jnp.float32)
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  images = jax.random.uniform(keys[0], (batch, *shape), jnp.float32)
  labels = jax.random.randint(keys[1], (batch,), 0, classes)
  variables = model32.init(keys[2], images[:1], train=False)
  params32 = variables.pop('params')
  state32 = dict(variables)
  to64 = lambda tree: jax.tree.map(lambda x: x.astype(jnp.float64), tree)

  def gradients(model, params, state, images):
    fn = jax.jit(lambda p, s, x: train_step.loss_and_grads(
        model, p, s, x, labels, keys[3]))
    _, _, new_state, grads = fn(params, state, images)
    return {'grads': grads, 'model_state': new_state}

  # Each model as the trainer builds it: the rewrites are its fields.
  truth = gradients(build(jnp.float64), to64(params32), to64(state32),
                    images.astype(jnp.float64))
  plain32 = gradients(model32, params32, state32, images)
  checked, seen = {}, {}
  for setting in settings:
    rewrites = cpu_gradients.resolve(setting)
    if rewrites in seen.values():
      continue
    seen[setting] = rewrites
    ours64 = gradients(build(jnp.float64, rewrites), to64(params32),
                       to64(state32), images.astype(jnp.float64))
    ours32 = gradients(build(jnp.float32, rewrites), params32, state32, images)
    checked[setting] = {
        'rewrites': sorted(rewrites),
        'float64': leaf_errors(ours64, truth),
        'float32': leaf_errors(ours32, truth),
        'float32_plain': leaf_errors(plain32, truth),
    }
  return {'model': name, 'model_settings': fields, 'input': list(shape),
          'batch': batch,
          'backend': jax.default_backend(), 'settings': checked}


def main(argv):
  del argv
  from lib import xla_cpu  # pylint: disable=g-import-not-at-top
  xla_cpu.prepare_for('float32')  # The trainer's XLA flags, before JAX starts.
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update('jax_enable_x64', True)
  results = [check(spec, _REWRITES.value, _BATCH.value) for spec in _MODELS.value]
  print(json.dumps(results))


if __name__ == '__main__':
  app.run(main)
