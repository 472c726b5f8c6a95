"""Bad input: one clear line on stderr, exit status 2, nothing written."""
import os

import pytest

from tests.conftest import pythonpath, run_module

pytestmark = pytest.mark.slow


@pytest.mark.parametrize('flag, message', [
    ('--config.model.activaton=tanh', "unknown config field 'activaton'"),
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
      'experiments.train', '--config=configs/digits_cnn.py',
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
      'experiments.train', '--config=configs/digits_cnn.py',
      f'--workdir={tmp_path / "run"}', f'--config.data.data_dir={tmp_path}',
      '--config.data.name=cifar10',
      env={'PYTHONPATH': pythonpath(os.path.join(os.path.dirname(__file__), 'no_network'))})
  assert proc.returncode == 2
  assert 'NETWORK ACCESS ATTEMPTED' not in proc.stderr + proc.stdout
  assert proc.stderr.startswith("error: dataset 'cifar10' is not prepared")


def test_a_missing_config_file_with_overrides_is_one_line(tmp_path):
  workdir = tmp_path / 'run'
  proc = run_module('experiments.train', '--config=configs/no_such_config.py',
                    '--config.seed=1', f'--workdir={workdir}')
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      "error: [Errno 2] No such file or directory: 'configs/no_such_config.py'"]
  assert not workdir.exists()
