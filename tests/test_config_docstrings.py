"""Every config's docstring commands work as written: the config loads with
those flags (locked, as the launcher loads it) and its model initializes.

A docstring command is a line `python -m experiments.train ...` (with its
backslash continuations); '...' stands for the reader's own value.
"""
import glob
import importlib
import os
import re
import shlex

import jax
import jax.numpy as jnp
import pytest
from absl import flags
from ml_collections import config_flags

from lib import models, train_step
from tests.conftest import ROOT

CONFIGS = sorted(os.path.relpath(p, ROOT) for p in
                 glob.glob(os.path.join(ROOT, 'configs', '*.py'))
                 if os.path.basename(p) not in ('__init__.py', 'common.py'))
# Input shape and classes of each dataset, as TFDS prepares it.
DATASETS = {'digits': ((8, 8, 1), 10), 'mnist': ((28, 28, 1), 10),
            'mnist_5k': ((28, 28, 1), 10),
            'cifar10': ((32, 32, 3), 10), 'imagenet2012': ((224, 224, 3), 1000)}


def commands(path: str) -> list[list[str]]:
  """The train commands in the module docstring of `path`, as argv lists."""
  module = importlib.import_module(path[:-3].replace(os.sep, '.'))
  text = re.sub(r'\\\n\s*', ' ', module.__doc__ or '')
  return [shlex.split(line.strip())[3:] for line in text.splitlines()
          if line.strip().startswith('python -m experiments.train ')]


def measured_with(path: str) -> list[list[str]]:
  """The `Measured with: python -m experiments.seeds ...` commands of the
  docstring's "Expected:" result, as argv lists."""
  module = importlib.import_module(path[:-3].replace(os.sep, '.'))
  text = re.sub(r'\\\n\s*', ' ', module.__doc__ or '')
  return [shlex.split(m)[3:] for m in
          re.findall(r'Measured with: (python -m experiments\.seeds [^\n]*)', text)]


def load(argv: list[str]):
  """The config these flags give, loaded and locked as the launcher does."""
  values = flags.FlagValues()
  ours = ['train', *[a for a in argv if a.startswith('--config')]]
  config_flags.DEFINE_config_file('config', None, 'Config.', flag_values=values,
                                  lock_config=True, sys_argv=ours)
  values(ours)
  return values.config


@pytest.mark.parametrize('path', CONFIGS)
def test_every_config_documents_how_to_run_it(path):
  assert commands(path), f'{path}: no `python -m experiments.train` command'


@pytest.mark.parametrize('path, argv', [
    (p, argv) for p in CONFIGS for argv in commands(p)],
    ids=lambda x: x if isinstance(x, str) else ' '.join(x))
def test_docstring_command_loads_and_its_model_initializes(path, argv):
  assert any(a.startswith(f'--config={path}') for a in argv), argv
  config = load(argv)
  shape, classes = DATASETS[config.data.name]
  if config.data.image_size:
    shape = (config.data.image_size, config.data.image_size, shape[2])
  classes = 2 if config.data.positive_class >= 0 else classes
  model = models.build(config.model, train_step.num_outputs(classes))
  variables = jax.eval_shape(
      lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, *shape))))
  assert variables['params']


@pytest.mark.parametrize('path', [p for p in CONFIGS if 'Expected:' in
                                  importlib.import_module(p[:-3].replace(os.sep, '.')).__doc__])
def test_expected_result_names_the_command_that_measured_it(path):
  runs = measured_with(path)
  assert runs, f'{path}: "Expected:" without "Measured with: python -m experiments.seeds ..."'
  for argv in runs:
    assert any(a.startswith(f'--config={path}:') for a in argv), argv
    assert any(a.startswith('--seeds=') for a in argv)
    assert any(a.startswith('--out=') for a in argv), argv
    assert load(argv).data.name in DATASETS


@pytest.mark.parametrize('ref, message', [
    ('configs/cnn.py', "takes a dataset after ':'"),
    ('configs/cnn.py:digitz', "'digitz' is not one; valid: digits, mnist_5k, cifar10"),
    ('configs/cnn.py:digits,fast', "unknown config argument 'fast'"),
    ('configs/resnet.py:cifar10,resnet56,resnet110', 'one depth at a time'),
    ('configs/resnet.py:digits,resnet56', 'resnet56 is for :cifar10'),
    ('configs/logreg.py:mnist_5k,binary', "binary is the lecture's digits model"),
])
def test_a_config_refuses_what_it_does_not_ship(ref, message):
  with pytest.raises((ValueError, flags.Error), match=re.escape(message)):
    load([f'--config={ref}'])
