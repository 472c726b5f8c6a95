"""Each rewrite of lib/cpu_gradients, layer by layer, against JAX's own gradient.

The rewrites replace how JAX differentiates max pooling and convolutions and
reorder ConvBlock's conv -> activation -> max pool, for speed on XLA:CPU. A
speed change must not change what is learned: these compare, under jit,
against jax.grad of the plain layers in their written order. Each layer is
built as lib/models build() builds it, with cpu_gradients.model_fields as
its fields. tests/test_whole_model_gradients.py does the same for every
whole model.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib import cpu_gradients, layers
from lib.cpu_gradients import max_pool


def _cotangent(shape, seed=1):
  return jax.random.normal(jax.random.PRNGKey(seed), shape)


@pytest.mark.parametrize('shape, window, stride, padding', [
    ((2, 8, 8, 3), 2, 2, 'VALID'),              # The CNNs' 2x2/2 pool.
    ((2, 7, 9, 3), 2, 2, 'VALID'),              # Sizes that do not divide.
    ((2, 13, 13, 2), 3, 2, 'VALID'),            # AlexNet's overlapping 3x3/2.
    ((2, 12, 12, 2), 3, 2, ((1, 1), (1, 1))),   # The ResNet stem's padded pool.
    ((2, 9, 9, 2), 3, 2, 'SAME'),
])
def test_max_pool_gradient_matches_select_and_scatter(shape, window, stride,
                                                      padding):
  """Our max-pool gradient routes each window's cotangent exactly as
  reduce_window's autodiff does, ties (ReLU zeros, equal pixels) included."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.integers(0, 3, shape).astype(np.float32))  # Many ties.
  reference = lambda x: nn.max_pool(x, (window, window), (stride, stride), padding)
  ours = lambda x: max_pool.max_pool(x, window, stride, padding)
  # Integer cotangents make every sum exact, so any routing difference shows.
  g = jnp.asarray(rng.integers(-4, 5, reference(x).shape).astype(np.float32))
  vjp_of = lambda f: jax.jit(lambda x: (f(x), jax.vjp(f, x)[1](g)[0]))
  (y, dx), (y0, dx0) = vjp_of(ours)(x), vjp_of(reference)(x)
  np.testing.assert_array_equal(y, y0)
  np.testing.assert_array_equal(dx, dx0)


CONV_REWRITES = frozenset({'conv_barrier', 'matmul_filter_grad',
                           'sliced_filter_grad'})


def _conv(rewrites, **settings) -> nn.Conv:
  """nn.Conv with the convolution `rewrites` give, as the models build it."""
  convolve = cpu_gradients.model_fields(rewrites).get('conv_general_dilated')
  return nn.Conv(conv_general_dilated=convolve, **settings)


def _conv_grads(rewrites, batch, channels=6, features=8, **settings):
  """nn.Conv's output and jitted gradients, differentiated with `rewrites`."""
  x = jax.random.normal(jax.random.PRNGKey(0), (batch, 10, 10, channels))
  module = _conv(rewrites, features=features, **settings)
  params = module.init(jax.random.PRNGKey(2), x[:1])
  y = module.apply(params, x)
  g = _cotangent(y.shape)

  @jax.jit
  def grads(params, x):
    _, vjp = jax.vjp(lambda p, x: module.apply(p, x), params, x)
    return vjp(g)
  return y, grads(params, x)


CONV_SETTINGS = [
    dict(kernel_size=(3, 3)),
    dict(kernel_size=(3, 3), strides=(2, 2), padding='SAME', use_bias=False),
    dict(kernel_size=(5, 5), padding='VALID'),
    dict(kernel_size=(3, 3), feature_group_count=2),
]


@pytest.mark.parametrize('settings', CONV_SETTINGS)
def test_conv_gradient_is_bitwise_flax_below_the_slice(settings):
  batch = cpu_gradients.FILTER_GRAD_SLICE  # One slice: only the barrier differs.
  y, (dparams, dx) = _conv_grads({'conv_barrier', 'sliced_filter_grad'}, batch,
                                 **settings)
  y0, (dparams0, dx0) = _conv_grads(frozenset(), batch, **settings)
  np.testing.assert_array_equal(y, y0)
  np.testing.assert_array_equal(dx, dx0)
  jax.tree.map(np.testing.assert_array_equal, dparams, dparams0)


def _assert_matches_flax_up_to_sum_order(batch, **settings):
  """Same outputs and input gradient as JAX's, bit for bit; the kernel's
  gradient equal up to float32 rounding relative to its scale (only the
  order of the sum over examples and pixels differs)."""
  y, (dparams, dx) = _conv_grads(CONV_REWRITES, batch, **settings)
  y0, (dparams0, dx0) = _conv_grads(frozenset(), batch, **settings)
  np.testing.assert_array_equal(y, y0)
  np.testing.assert_array_equal(dx, dx0)
  close = lambda a, b: np.testing.assert_allclose(
      a, b, rtol=0, atol=1e-5 * float(np.abs(b).max()))
  jax.tree.map(close, dparams, dparams0)


@pytest.mark.parametrize('settings', CONV_SETTINGS)
def test_sliced_filter_gradient_equals_the_whole_batch_one(settings):
  _assert_matches_flax_up_to_sum_order(4 * cpu_gradients.FILTER_GRAD_SLICE, **settings)


POINTWISE_SETTINGS = [
    dict(kernel_size=(1, 1)),                                 # Bottlenecks.
    dict(kernel_size=(1, 1), strides=(2, 2), use_bias=False),  # Shortcuts.
    dict(kernel_size=(1, 1), strides=(2, 2), padding='SAME'),
    dict(kernel_size=(1, 1), padding=((1, 1), (1, 1))),         # Not a matmul.
]


@pytest.mark.parametrize('batch', [8, 4 * cpu_gradients.FILTER_GRAD_SLICE])
@pytest.mark.parametrize('settings', POINTWISE_SETTINGS)
def test_pointwise_filter_gradient_equals_the_convolution_one(settings, batch):
  _assert_matches_flax_up_to_sum_order(batch, **settings)


PATCH_SETTINGS = [  # Taps x input channels <= output channels.
    dict(kernel_size=(3, 3)),                                    # The CNN's first.
    dict(kernel_size=(3, 3), strides=(2, 2), padding='VALID'),
    dict(kernel_size=(2, 3), kernel_dilation=(2, 1), padding=((2, 0), (1, 3))),
    dict(kernel_size=(3, 3), strides=(2, 2), padding='SAME', use_bias=False),
]


@pytest.mark.parametrize('settings', PATCH_SETTINGS)
def test_patch_filter_gradient_equals_the_convolution_one(settings):
  _assert_matches_flax_up_to_sum_order(8, channels=2, features=24, **settings)


def test_batch_that_is_no_multiple_of_the_slice_is_not_sliced():
  batch = cpu_gradients.FILTER_GRAD_SLICE + 8
  _, (dparams, _) = _conv_grads({'conv_barrier', 'sliced_filter_grad'}, batch,
                                kernel_size=(3, 3))
  _, (dparams0, _) = _conv_grads(frozenset(), batch, kernel_size=(3, 3))
  jax.tree.map(np.testing.assert_array_equal, dparams, dparams0)


@pytest.mark.parametrize('settings,channels,features,matmul', [
    (POINTWISE_SETTINGS[0], 6, 8, True), (POINTWISE_SETTINGS[1], 6, 8, True),
    (POINTWISE_SETTINGS[3], 6, 8, False),  # Padded 1x1: a real convolution.
    (CONV_SETTINGS[0], 6, 8, False),       # 9 taps x 6 channels > 8 outputs.
    (CONV_SETTINGS[0], 1, 8, False),       # 9 x 1 > 8.
    (CONV_SETTINGS[0], 1, 9, True),        # 9 x 1 <= 9.
    (CONV_SETTINGS[3], 2, 32, False)])     # Grouped: XLA's own.
def test_which_filter_gradients_are_matrix_products(settings, channels,
                                                     features, matmul):
  x = jnp.zeros((4, 10, 10, channels))
  module = _conv(CONV_REWRITES, features=features, **settings)
  params = module.init(jax.random.PRNGKey(0), x)

  def loss(p):
    return module.apply(p, x).sum()
  jaxpr = str(jax.make_jaxpr(jax.grad(loss))(params))
  assert ('dot_general' in jaxpr) == matmul


@pytest.mark.parametrize('activation', sorted(layers.NON_DECREASING))
@pytest.mark.parametrize('window, stride', [(2, None), (3, 2)])
def test_pooling_before_the_activation_changes_nothing(activation, window,
                                                       stride):
  """pool_first max-pools before the bias and a non-decreasing activation:
  same parameters, same outputs, same gradients as conv -> act -> pool."""
  block = lambda rewrites=frozenset(): layers.ConvBlock(
      8, 3, activation=activation, pooling='max', pool_size=window,
      pool_stride=stride, **cpu_gradients.model_fields(rewrites))
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 9, 9, 3))
  params = block().init(jax.random.PRNGKey(1), x)
  # A bias large enough that the activations' curved parts are all reached.
  params['params']['conv']['bias'] = jnp.linspace(-3.0, 3.0, 8)

  def forward_and_grads(rewrites):
    @jax.jit
    def run(params, x):
      y, vjp = jax.vjp(lambda p, x: block(rewrites).apply(p, x), params, x)
      return y, vjp(_cotangent(y.shape))
    return run(params, x)

  y, (dparams, dx) = forward_and_grads({'pool_first'})
  y_ref, (dparams_ref, dx_ref) = forward_and_grads(frozenset())
  assert jax.tree.structure(dparams) == jax.tree.structure(dparams_ref)
  if activation in ('relu', 'relu6', 'leaky_relu', 'identity'):
    np.testing.assert_array_equal(y, y_ref)
  else:  # XLA may evaluate exp/log on another code path: the last bit.
    np.testing.assert_allclose(y, y_ref, rtol=3e-7, atol=0)
  # Random inputs: no ties, so only the bias gradient's sum order differs.
  np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(dparams), jax.tree.leaves(dparams_ref)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('activation, pool', [('gelu', 'max'), ('relu', 'mean')])
def test_pooling_stays_after_the_activation_where_they_do_not_commute(
    activation, pool):
  """gelu dips and rises again; mean pooling is not a max: for these the
  block is conv -> activation -> pool as written, rewrites on or off."""
  block = layers.ConvBlock(4, 3, activation=activation, pooling=pool)
  rewritten = block.clone(**cpu_gradients.model_fields(cpu_gradients.resolve('on')))
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 3))
  params = block.init(jax.random.PRNGKey(1), x)
  params['params']['conv']['bias'] = jnp.linspace(-2.0, 2.0, 4)
  kernel, bias = params['params']['conv']['kernel'], params['params']['conv']['bias']
  y = jax.lax.conv_general_dilated(x, kernel, (1, 1), 'SAME',
                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  expected = layers.pool(pool, layers.get_activation(activation)(y + bias), 2)
  for module in (block, rewritten):
    np.testing.assert_allclose(module.apply(params, x), expected, rtol=1e-5,
                               atol=1e-6)
  # The other order gives other values: the test above would catch a swap.
  swapped = layers.get_activation(activation)(layers.pool(pool, y, 2) + bias)
  assert not np.allclose(swapped, expected, atol=1e-3)


def test_auto_turns_the_rewrites_on_for_the_cpu_only():
  assert cpu_gradients.resolve('auto', 'cpu') == set(cpu_gradients.REWRITES)
  for backend in ('gpu', 'cuda', 'rocm', 'tpu'):
    assert cpu_gradients.resolve('auto', backend) == frozenset()
  assert cpu_gradients.resolve('on', 'gpu') == set(cpu_gradients.REWRITES)
  assert cpu_gradients.resolve('off', 'cpu') == frozenset()
  assert cpu_gradients.resolve('max_pool, pool_first') == {'max_pool', 'pool_first'}


@pytest.mark.parametrize('bad', ['', ',', 'fast', 'max_pool,typo'])
def test_a_setting_that_names_no_rewrite_is_refused(bad):
  from lib import errors# pylint: disable=g-import-not-at-top
  with pytest.raises(errors.UserError, match='fast_cpu_gradients'):
    cpu_gradients.resolve(bad)


@pytest.mark.parametrize('setting, rewritten', [('off', False), ('on', True)])
def test_the_trainer_steps_with_the_configured_rewrites(data_dir, setting,
                                                        rewritten):
  """train.fast_cpu_gradients reaches the compiled step the loop runs: the
  rewrites' optimization barriers (max_pool, conv_barrier) are in its
  program, or none are (nothing else in a train step adds one)."""
  from configs import cnn  # pylint: disable=g-import-not-at-top
  from lib import parallel, trainer# pylint: disable=g-import-not-at-top
  config = cnn.get_config('digits')
  config.data.data_dir = data_dir
  config.train.fast_cpu_gradients = setting
  run = trainer.Run(config)
  assert run.gradient_rewrites == cpu_gradients.resolve(setting)
  program = trainer.Program(run, stacked=False, mesh=parallel.make_mesh())
  state = program.init(0)
  inputs = (program.train_arrays, program.permutation(0, 0))
  jaxpr = str(jax.make_jaxpr(program.step)(state, inputs))
  assert ('optimization_barrier' in jaxpr) == rewritten


def test_a_bad_setting_on_the_command_line_is_one_error_line(tmp_path):
  from tests.conftest import run_module  # pylint: disable=g-import-not-at-top
  proc = run_module('experiments.train', '--config=configs/cnn.py:digits',
                    '--config.train.fast_cpu_gradients=fast',
                    f'--workdir={tmp_path / "run"}', timeout=120)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith(
      "error: train.fast_cpu_gradients='fast'")
  assert not (tmp_path / 'run').exists()


def test_pool_first_adds_the_bias_on_the_pooled_map():
  """The field reaches the program: with pool_first the bias and the
  activation run on the 2x2-pooled map, without it on the conv's output."""
  x = jnp.zeros((2, 8, 8, 3))

  def shapes_added_to(rewrites):
    block = layers.ConvBlock(8, 3, activation='relu', pooling='max',
                             **cpu_gradients.model_fields(rewrites))
    params = block.init(jax.random.PRNGKey(0), x)
    jaxpr = jax.make_jaxpr(lambda p: block.apply(p, x))(params).jaxpr
    return {tuple(e.outvars[0].aval.shape) for e in jaxpr.eqns
            if e.primitive.name == 'add'}
  assert shapes_added_to(frozenset()) == {(2, 8, 8, 8)}
  assert shapes_added_to({'pool_first'}) == {(2, 4, 4, 8)}
