"""The reference model zoo: published parameter counts, shapes, a training
signal, and that the activation and pooling settings reach every site.

Parameter counts and shapes come from jax.eval_shape / make_jaxpr, so nothing
runs at 224x224; forward/backward passes run at small input sizes only.
"""
import functools
import math
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from lib import errors, models
from lib.models import alexnet as alexnet_lib

IMAGENET = ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152']
CIFAR = ['resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet110']
ZOO = ['lenet5', 'alexnet', 'alexnet_paper', *IMAGENET, *CIFAR]
# One of each architecture: LeNet, both AlexNets, basic- and bottleneck-block
# ImageNet ResNets, the CIFAR ResNet. Deeper variants only repeat these blocks.
REPRESENTATIVE = ['lenet5', 'alexnet', 'alexnet_paper', 'resnet18', 'resnet50',
                  'resnet20']

# Smallest convenient input per model: LeNet's 28x28 digits (padded to 32
# inside); AlexNet needs 63x63 for its three 3x3/2 pools; ResNets run at 32.
SMALL_INPUT = {'lenet5': (28, 28, 1), 'alexnet': (63, 63, 3),
               'alexnet_paper': (63, 63, 3)}

# Weight layers counted in each model's name (LeNet-5 has 5, AlexNet 8,
# ResNet-N N): every one but the output layer is followed by exactly one
# activation (in a residual block, the last conv's comes after the addition).
DEPTH = {'lenet5': 5, 'alexnet': 8, 'alexnet_paper': 8,
         **{name: int(name[len('resnet'):]) for name in IMAGENET + CIFAR}}

# Pooling layers that `pooling` selects. The ResNets' final global average
# pool is fixed; CIFAR ResNets have no other pool, hence no `pooling` setting.
POOL_SITES = {'lenet5': 2, 'alexnet': 3, 'alexnet_paper': 3,
              'resnet18': 1}  # All ImageNet ResNets share resnet18's stem.

# XLA:CPU compiles several times faster at backend level 0; the tensors here
# are small, so run time hardly matters.
FAST_COMPILE = {'xla_backend_optimization_level': 0}


def build(name, num_outputs=10, **settings):
  return models.build(ml_collections.ConfigDict(dict(name=name, **settings)),
                      num_outputs)


def input_shape(name):
  return SMALL_INPUT.get(name, (32, 32, 3))


def abstract_variables(model, shape, batch=2):
  x = jax.ShapeDtypeStruct((batch, *shape), jnp.float32)
  return jax.eval_shape(lambda x: model.init(jax.random.key(0), x), x)


def param_count(variables):
  return sum(p.size for p in jax.tree.leaves(variables['params']))


def num_params(model, shape):
  return param_count(abstract_variables(model, shape, batch=1))


@functools.lru_cache
def _cached_variables(name, settings):
  return abstract_variables(build(name, **dict(settings)), input_shape(name))


def variable_shapes(name, **settings):
  """Variable shapes at the small input, traced once per model and settings
  (the activation never changes them, so leave it out)."""
  return _cached_variables(name, tuple(sorted(settings.items())))


def synthetic_variables(shapes):
  """Variables of the given shapes from numpy: kernels lecun-normal (Flax's
  default init), BatchNorm scales and running variances 1, the rest 0.

  Compiling and running model.init costs 2-6 s per model on 2 CPU cores (the
  test of batch statistics does run it)."""
  rng = np.random.default_rng(0)

  def fill(path, leaf):
    if path[-1].key == 'kernel':
      fan_in = math.prod(leaf.shape[:-1])
      return rng.standard_normal(leaf.shape, np.float32) / np.sqrt(fan_in)
    one = path[-1].key in ('scale', 'var')
    return (np.ones if one else np.zeros)(leaf.shape, leaf.dtype)

  return jax.device_put(jax.tree_util.tree_map_with_path(fill, shapes))


# --- parameter counts ----------------------------------------------------


def _cifar_resnet_params(n: int, classes: int = 10,
                         projection: bool = False) -> int:
  """He et al. sec. 4.2 counted by hand: bias-free convs, BN scale+bias."""
  conv_bn = lambda cin, cout, k=3: k * k * cin * cout + 2 * cout
  total = conv_bn(3, 16)
  for cin, cout in ((16, 16), (16, 32), (32, 64)):
    total += conv_bn(cin, cout) + conv_bn(cout, cout)  # First block.
    total += (n - 1) * 2 * conv_bn(cout, cout)
    if projection and cin != cout:
      total += conv_bn(cin, cout, 1)
  return total + 64 * classes + classes


@pytest.mark.parametrize('name, shape, classes, expected', [
    ('lenet5', (28, 28, 1), 10, 61_706),
    ('lenet5', (32, 32, 1), 10, 61_706),
    # torchvision.models.alexnet / resnetN, 1000 classes.
    ('alexnet', (224, 224, 3), 1000, 61_100_840),
    ('resnet18', (224, 224, 3), 1000, 11_689_512),
    ('resnet34', (224, 224, 3), 1000, 21_797_672),
    ('resnet50', (224, 224, 3), 1000, 25_557_032),
    ('resnet101', (224, 224, 3), 1000, 44_549_160),
    ('resnet152', (224, 224, 3), 1000, 60_192_808),
    # Caffe's bvlc_alexnet (grouped convs), the paper's "60 million".
    ('alexnet_paper', (224, 224, 3), 1000, 60_965_224),
])
def test_published_param_counts(name, shape, classes, expected):
  assert num_params(build(name, classes), shape) == expected


@pytest.mark.parametrize('name, n, paper_millions', [
    ('resnet20', 3, 0.27), ('resnet32', 5, 0.46), ('resnet44', 7, 0.66),
    ('resnet56', 9, 0.85), ('resnet110', 18, 1.7)])
def test_cifar_resnet_param_counts(name, n, paper_millions):
  params = param_count(variable_shapes(name))
  assert params == _cifar_resnet_params(n)
  assert round(params / 1e6, 2 if n < 18 else 1) == paper_millions
  if n == 3:
    assert params == 269_722  # Option A: parameter-free shortcuts.
    projection = num_params(build(name, shortcut='projection'), (32, 32, 3))
    assert projection == 272_474 == _cifar_resnet_params(3, projection=True)


def test_strided_pooling_keeps_conv_params():
  assert num_params(build('lenet5', pooling='strided'), (28, 28, 1)) == 61_706
  assert num_params(build('alexnet', 1000, pooling='strided'),
                    (224, 224, 3)) == 61_100_840
  assert num_params(build('resnet50', 1000, pooling='strided'),
                    (224, 224, 3)) == 25_557_032


# --- forward passes, traced once per setting ----------------------------------


@functools.lru_cache
def _forward(name, activation, pooling=None):
  """The eval-mode forward pass on 2 examples, as a jaxpr."""
  settings = {} if pooling is None else {'pooling': pooling}
  model = build(name, activation=activation, **settings)
  x = jax.ShapeDtypeStruct((2, *input_shape(name)), jnp.float32)
  return jax.make_jaxpr(functools.partial(model.apply, train=False))(
      variable_shapes(name, **settings), x)


def _primitives(jaxpr):
  """Names of all primitives, inside nested jaxprs (jit, custom_jvp) too."""
  for eqn in jaxpr.eqns:
    yield eqn.primitive.name
    for value in eqn.params.values():
      for sub in (value if isinstance(value, (list, tuple)) else [value]):
        if isinstance(sub, jax.extend.core.ClosedJaxpr):
          yield from _primitives(sub.jaxpr)
        elif isinstance(sub, jax.extend.core.Jaxpr):
          yield from _primitives(sub)


def _count(primitive, name, activation='relu', pooling=None):
  return list(_primitives(_forward(name, activation, pooling).jaxpr)).count(
      primitive)


@pytest.mark.parametrize('name', ZOO)
def test_output_shape(name):
  (out,) = _forward(name, 'relu').out_avals
  assert out.shape == (2, 10)


@pytest.mark.parametrize('name, shape', [
    ('alexnet', (224, 224, 3)), ('alexnet_paper', (224, 224, 3)),
    ('resnet50', (224, 224, 3)), ('lenet5', (32, 32, 1))])
def test_output_shape_at_native_size(name, shape):
  model = build(name, 1000)
  x = jax.ShapeDtypeStruct((1, *shape), jnp.float32)
  out = jax.eval_shape(functools.partial(model.apply, train=False),
                       abstract_variables(model, shape, batch=1), x)
  assert out.shape == (1, 1000)


@pytest.mark.parametrize('name', ZOO)
def test_activation_reaches_every_site(name):
  sites = DEPTH[name] - 1
  # relu is max(x, 0); eval-mode BatchNorm and the pools use no `max`.
  assert _count('max', name, 'relu') == sites
  assert _count('tanh', name, 'relu') == 0
  assert _count('tanh', name, 'tanh') == sites
  assert _count('max', name, 'tanh') == 0


@pytest.mark.parametrize('name', list(POOL_SITES))
def test_pooling_reaches_every_site(name):
  assert _count('reduce_window_max', name, pooling='max') == POOL_SITES[name]
  for other in ('mean', 'none', 'strided'):
    assert _count('reduce_window_max', name, pooling=other) == 0
  # LRN sums over channel windows too, so count mean pools by difference.
  base = _count('reduce_window_sum', name, pooling='none')
  assert _count('reduce_window_sum', name, pooling='strided') == base
  assert _count('reduce_window_sum', name, pooling='mean') > base


def test_bfloat16_compute_keeps_float32_params():
  model = build('resnet20', dtype=jnp.bfloat16)
  variables = abstract_variables(model, (32, 32, 3))
  assert {p.dtype for p in jax.tree.leaves(variables)} == {jnp.dtype('float32')}
  x = jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)
  out = jax.eval_shape(functools.partial(model.apply, train=False),
                       variables, x)
  assert out.dtype == jnp.bfloat16


def test_cifar_resnets_have_no_pooling_setting():
  with pytest.raises(errors.UserError, match="no setting 'pooling'"):
    build('resnet20', pooling='max')


@pytest.mark.parametrize('name, setting, value', [
    ('lenet5', 'pooling', 'median'), ('alexnet_paper', 'pooling', 'median'),
    ('resnet18', 'pooling', 'median'), ('resnet18', 'activation', 'swish2'),
    ('resnet20', 'shortcut', 'conv'), ('resnet18', 'block', 'dense')])
def test_unknown_names_are_user_errors(name, setting, value):
  model = build(name, **{setting: value})
  with pytest.raises(errors.UserError, match=f'unknown {setting}'):
    abstract_variables(model, input_shape(name))


# --- training signal ------------------------------------------------------------


@jax.jit
def _sgd_step(params, grads, length):
  """A step of the given L2 length along -grads."""
  norm = optax.tree.norm(grads)
  return jax.tree.map(lambda p, g: p - length * g / norm, params, grads)


# Deep variants take 5-60 s each to compile on 2 CPU cores and only repeat the
# blocks of the fast cases, so they run with ZOO_ALL_DEPTHS=1. The bottleneck
# block, projection shortcuts and stem of resnet50 run by default in a
# one-block-per-stage resnet50.
_ALL_DEPTHS = [pytest.mark.slow, pytest.mark.skipif(
    not os.environ.get('ZOO_ALL_DEPTHS'), reason='set ZOO_ALL_DEPTHS=1')]
GRADIENT_CASES = [
    *[pytest.param(name, {}, id=name)
      for name in REPRESENTATIVE if name != 'resnet50'],
    pytest.param('resnet50', {'stage_sizes': (1, 1, 1, 1)},
                 id='resnet50-one-block-per-stage'),
    *[pytest.param(name, {}, marks=_ALL_DEPTHS, id=name)
      for name in ZOO if name not in REPRESENTATIVE or name == 'resnet50'],
]


@pytest.mark.parametrize('name, settings', GRADIENT_CASES)
def test_gradient_step_lowers_loss(name, settings):
  model = build(name, **settings)
  x = jax.random.normal(jax.random.key(1), (4, *input_shape(name)))
  y = jnp.arange(4) % 10
  variables = synthetic_variables(variable_shapes(name, **settings))
  others = {k: v for k, v in variables.items() if k != 'params'}
  rngs = {'dropout': jax.random.key(2)}  # Same masks before and after.

  @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
  @jax.value_and_grad
  def loss_and_grad(params):
    logits, _ = model.apply({'params': params, **others}, x, train=True,
                            rngs=rngs, mutable=['batch_stats'])
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  params = variables['params']
  before, grads = loss_and_grad(params)
  assert np.isfinite(before) and optax.tree.norm(grads) > 0
  # Train-mode BatchNorm over 4 examples is sharply curved in deep nets, so
  # the best of three step lengths must descend.
  after = min(loss_and_grad(_sgd_step(params, grads, length))[0]
              for length in (1e-2, 1e-3, 1e-4))
  assert after < before


# --- batch normalization ----------------------------------------------------------


def test_batch_stats_update_in_training_and_are_used_in_eval():
  model = build('resnet20')
  x = jax.random.normal(jax.random.key(1), (4, 32, 32, 3)) * 3 + 1
  variables = jax.jit(model.init, compiler_options=FAST_COMPILE)(
      jax.random.key(0), x)
  train = jax.jit(functools.partial(model.apply, train=True,
                                    mutable=['batch_stats']),
                  compiler_options=FAST_COMPILE)
  _, updates = train(variables, x)
  old = jax.tree.leaves(variables['batch_stats'])
  new = jax.tree.leaves(updates['batch_stats'])
  assert len(new) == 2 * 19  # Mean and variance of each conv's BatchNorm.
  assert all(not np.allclose(a, b) for a, b in zip(old, new))

  trained = {**variables, 'batch_stats': updates['batch_stats']}
  evaluate = jax.jit(functools.partial(model.apply, train=False),
                     compiler_options=FAST_COMPILE)
  assert not np.allclose(evaluate(variables, x), evaluate(trained, x))
  # Eval uses running stats: each example's logits ignore the rest of the batch.
  other = x.at[2:].set(jax.random.normal(jax.random.key(3), (2, 32, 32, 3)))
  np.testing.assert_allclose(evaluate(trained, x)[:2],
                             evaluate(trained, other)[:2], rtol=1e-5, atol=1e-5)


# --- AlexNet's helpers ------------------------------------------------------------


def test_adaptive_avg_pool_matches_torch_bins():
  x = np.asarray(jax.random.normal(jax.random.key(0), (1, 13, 9, 2)))
  out = np.asarray(alexnet_lib.adaptive_avg_pool(jnp.asarray(x), 6))
  for i in range(6):
    for j in range(6):
      r0, r1 = (i * 13) // 6, -(-((i + 1) * 13) // 6)
      c0, c1 = (j * 9) // 6, -(-((j + 1) * 9) // 6)
      np.testing.assert_allclose(out[0, i, j], x[0, r0:r1, c0:c1].mean((0, 1)),
                                 rtol=1e-5, atol=1e-6)


def test_local_response_norm_matches_the_paper_formula():
  x = np.asarray(jax.random.normal(jax.random.key(0), (2, 3, 3, 8))) * 30
  out = alexnet_lib.local_response_norm(jnp.asarray(x), groups=2)
  expected = np.empty_like(x)
  for g in range(2):  # Windows stay inside each tower's 4 channels.
    for c in range(4):
      lo, hi = 4 * g + max(0, c - 2), 4 * g + min(3, c + 2)
      s = np.square(x[..., lo:hi + 1]).sum(-1)
      expected[..., 4 * g + c] = x[..., 4 * g + c] / (2 + 1e-4 * s) ** 0.75
  np.testing.assert_allclose(out, expected, rtol=1e-5)


@pytest.mark.parametrize('name', ['alexnet', 'alexnet_paper'])
def test_alexnet_says_when_images_are_too_small(name):
  with pytest.raises(errors.UserError, match='at least 63x63; got 32x32'):
    abstract_variables(build(name), (32, 32, 3))
  abstract_variables(build(name, pooling='strided'), (32, 32, 3))  # Fits.
