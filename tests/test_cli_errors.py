"""Bad input: one clear line on stderr, exit status 2, nothing written."""
import os

import pytest

from tests.conftest import ROOT, pythonpath, run_module

pytestmark = pytest.mark.slow


@pytest.mark.parametrize('flag, message', [
    ('--config.model.activaton=tanh',
     "unknown config field 'model.activaton'; did you mean 'model.activation' "
     '(--config.model.activation=tanh)?'),
    ('--config.modle.activation=tanh',
     "unknown config field 'modle.activation'; did you mean 'model.activation' "
     '(--config.model.activation=tanh)?'),
    ('--config.model.widht=3', "unknown config field 'model.widht'; the fields of "
     'model: activation, convs_per_block, dense,'),
    ('--config.data.name=mnsit', "no dataset 'mnsit' in TFDS's catalog, the embedded "
     'datasets (digits, mnist_5k) or '),
    ('--config.data.name=mnist/3.0.1', "dataset name 'mnist/3.0.1' puts a version "
     "after '/', where TFDS reads a config name; a version follows ':': use "
     '--config.data.name=mnist:3.0.1'),
    ('--config.model.activation=swish2',
     "unknown activation 'swish2'; valid names: elu, gelu, identity, leaky_relu, "
     'relu, relu6, sigmoid, silu, softplus, tanh'),
    ('--config.model.pooling=min', "unknown pooling 'min'; valid names: max, mean, none"),
    ('--config.data.name=mnist', './launch.sh prepare mnist '),
    ('--config.train.batch_size=ten', "invalid literal for int() with base 10: 'ten'"),
    ('--config.model.features=abc', "model 'cnn' does not build with these settings"),
])
def test_bad_input_is_one_line_and_writes_nothing(data_dir, tmp_path, flag, message):
  workdir = tmp_path / 'run'
  proc = run_module(
      'experiments.train', '--config=configs/cnn.py:digits',
      f'--workdir={workdir}', f'--config.data.data_dir={data_dir}', flag,
      # No network: a connection attempt would fail loudly, not hang.
      env={'PYTHONPATH': pythonpath(os.path.join(os.path.dirname(__file__), 'no_network'))})
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr[-2000:]
  assert message in lines[0]
  assert not workdir.exists()


def test_missing_dataset_never_touches_the_network(tmp_path):
  proc = run_module(
      'experiments.train', '--config=configs/cnn.py:digits',
      f'--workdir={tmp_path / "run"}', f'--config.data.data_dir={tmp_path}',
      '--config.data.name=cifar10',
      env={'PYTHONPATH': pythonpath(os.path.join(os.path.dirname(__file__), 'no_network'))})
  assert proc.returncode == 2
  assert 'NETWORK ACCESS ATTEMPTED' not in proc.stderr + proc.stdout
  assert proc.stderr.startswith("error: dataset 'cifar10' is not prepared")


@pytest.mark.parametrize('overrides', [[], ['--config.seed=1']])
def test_a_missing_config_file_lists_the_configs(tmp_path, overrides):
  workdir = tmp_path / 'run'
  proc = run_module('experiments.train', '--config=configs/no_such_config.py',
                    *overrides, f'--workdir={workdir}')
  assert proc.returncode == 2
  (line,) = proc.stderr.strip().splitlines()
  assert line.startswith('error: config file configs/no_such_config.py does not '
                         'exist; the configs in configs/: alexnet.py:imagenet2012, '
                         'cnn.py:digits, cnn.py:mnist_5k, cnn.py:cifar10, ')
  assert 'common.py' not in line
  assert not workdir.exists()


def test_an_unknown_model_is_refused_before_jax_starts(tmp_path):
  workdir = tmp_path / 'run'
  fake = tmp_path / 'no_jax' / 'jax'
  fake.mkdir(parents=True)
  (fake / '__init__.py').write_text("raise ImportError('JAX WAS IMPORTED')\n")
  proc = run_module('experiments.train', '--config=configs/cnn.py:digits',
                    '--config.model.name=resnet', f'--workdir={workdir}',
                    # Importing JAX here fails: the check must come first.
                    env={'PYTHONPATH': pythonpath(str(tmp_path / 'no_jax'))})
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines() == [
      "error: unknown model 'resnet'; valid names: alexnet, alexnet_paper, cnn, "
      'lenet5, logistic_regression, mlp, resnet101, resnet110, resnet152, '
      'resnet18, resnet20, resnet32, resnet34, resnet44, resnet50, resnet56']
  assert 'backend' not in proc.stdout
  assert not workdir.exists()


def test_help_exits_zero():
  proc = run_module('experiments.train', '--help')
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert '--workdir' in proc.stdout and 'Trains one config' in proc.stdout


def test_a_data_dir_with_a_tilde_is_expanded_for_training(tmp_path):
  """As `prepare` does, and as the shell would have if it were not quoted."""
  workdir = tmp_path / 'run'
  proc = run_module('experiments.train', '--config=configs/cnn.py:digits,runlocal',
                    f'--workdir={workdir}', '--config.data.data_dir=~/tfds',
                    env={'HOME': str(tmp_path)})
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert f'preparing the embedded digits dataset (no download) in {tmp_path}/tfds/' in proc.stdout
  assert 'Downloading' not in proc.stdout + proc.stderr
  assert (tmp_path / 'tfds' / 'digits').is_dir()
  assert not os.path.exists(os.path.join(ROOT, '~'))
