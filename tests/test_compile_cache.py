"""The persistent compilation cache: where it lives, that processes writing
it at once leave whole entries, and that a later process loads them."""
import os
import subprocess
import sys

import pytest

from lib import compile_cache
from tests.conftest import ROOT

# Compiles a small conv net's gradient (a program worth caching) and prints
# how many executables came from the cache: jax's own monitoring events.
_COMPILE = r'''
import jax, jax.numpy as jnp
from lib import compile_cache
hits = []
jax.monitoring.register_event_listener(
    lambda name, **kw: hits.append(name) if name == '/jax/compilation_cache/cache_hits' else None)
print('dir', compile_cache.enable())
def loss(w, x):
  y = jax.lax.conv_general_dilated(x, w, (1, 1), 'SAME',
                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  return jnp.sum(jnp.tanh(y) ** 2)
g = jax.jit(jax.grad(loss))(jnp.ones((3, 3, 1, 8)), jnp.ones((4, 8, 8, 1)))
print('hits', len(hits), float(g.sum()))
'''


def _compile(cache: str, **popen) -> subprocess.Popen:
  env = dict(os.environ, JAXVISION_COMPILATION_CACHE=cache, JAX_PLATFORMS='cpu')
  return subprocess.Popen([sys.executable, '-c', _COMPILE], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **popen)


def _finish(proc: subprocess.Popen) -> dict:
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err[-2000:]
  assert 'Error reading persistent compilation cache' not in err, err[-2000:]
  assert 'Error writing persistent compilation cache' not in err, err[-2000:]
  lines = dict(line.split(' ', 1) for line in out.splitlines())
  return {'dir': lines['dir'], 'hits': int(lines['hits'].split()[0]),
          'value': lines['hits'].split()[1]}


def test_where_it_lives(monkeypatch, tmp_path):
  monkeypatch.setenv(compile_cache.ENV, 'off')
  assert compile_cache.base_dir() is None
  monkeypatch.setenv(compile_cache.ENV, str(tmp_path / 'mine'))
  assert compile_cache.base_dir() == str(tmp_path / 'mine')
  monkeypatch.delenv(compile_cache.ENV)
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
  assert compile_cache.base_dir() == str(tmp_path / 'xdg' / 'jaxvision' / 'xla')
  # One subdirectory per jax version and CPU: never another CPU's executables.
  assert compile_cache.host_fingerprint().startswith('jax')


def test_two_processes_write_at_once_then_a_third_loads(tmp_path):
  cache = str(tmp_path / 'cache')
  first, second = _compile(cache), _compile(cache)  # Both miss, both write.
  a, b = _finish(first), _finish(second)
  assert a['dir'] == b['dir'] and a['dir'].startswith(cache)
  entries = os.listdir(a['dir'])
  assert any(e.startswith('jit_loss') for e in entries), entries
  assert not [e for e in entries if '.tmp' in e]  # Every write completed.
  third = _finish(_compile(cache))
  assert third['hits'] >= 1 and third['value'] == a['value']


def test_unwritable_directory_turns_it_off_with_a_warning(tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('not a directory')
  proc = _compile(str(blocker / 'cache'))
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err[-2000:]
  assert 'dir None' in out and 'compilation cache off' in err


ONEDNN_OFF = {'xla_cpu_use_onednn': False, 'xla_cpu_experimental_onednn_custom_call': False}
ONEDNN_ON = {'xla_cpu_use_onednn': True, 'xla_cpu_experimental_onednn_custom_call': True}


def _train_step_compiled(name: str, options: dict):
  """The trainer's CPU train step of a zoo model at a small input, compiled."""
  import jax  # pylint: disable=g-import-not-at-top
  from lib import cpu_gradients, models, optim, train_step  # pylint: disable=g-import-not-at-top
  from tests import test_model_zoo  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top
  shape = test_model_zoo.input_shape(name)
  model = models.build(ml_collections.ConfigDict({'name': name}), 10,
                       rewrites=cpu_gradients.resolve('on'))
  from configs import common  # pylint: disable=g-import-not-at-top
  optimizer = common.base_config('digits').optimizer
  optimizer.update(dict(name='momentum', learning_rate=0.1, schedule='constant'))
  tx = optim.build(optimizer, 1, 1)
  state = jax.eval_shape(lambda: train_step.init_state(model, tx, shape, 0))
  batch = {'image': jax.ShapeDtypeStruct((2, *shape), 'uint8'),
           'label': jax.ShapeDtypeStruct((2,), 'int32')}
  step = train_step.make_train_step(model, tx)
  return jax.jit(step).lower(state, batch).compile(options)


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(__import__('lib.models', fromlist=['MODELS']).MODELS))
def test_every_zoo_models_step_can_be_cached_without_onednn(name):
  # What the cache stores is the serialized executable.
  assert _train_step_compiled(name, ONEDNN_OFF).runtime_executable().serialize()


@pytest.mark.slow
def test_onednn_convolutions_still_cannot_be_serialized():
  """The XLA:CPU limitation lib/xla_cpu.py's defaults are built around
  (experiments/bench/README.md). When this fails, XLA serializes oneDNN
  thunks: measure again whether LeNet-5 and the ResNets should keep oneDNN
  uncached or everything should use it, cached."""
  compiled = _train_step_compiled('resnet20', ONEDNN_ON)
  assert 'custom_call_target="__onednn$convolution"' in compiled.as_text()
  with pytest.raises(MemoryError, match='bad_alloc'):
    compiled.runtime_executable().serialize()
