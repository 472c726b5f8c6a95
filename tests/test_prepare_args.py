"""`./launch.sh prepare`'s argument mistakes are one `error:` line, exit 2,
found before any environment is built; the two environments' requirement
files keep TensorFlow where it belongs."""
import os
import re
import subprocess

import pytest

from lib import errors
from lib.data import prepare
from tests.conftest import ROOT


@pytest.mark.parametrize('args, says', [
    (['--bogus'], "unknown or empty flag '--bogus'"),
    (['mnist', '--data_dir', '/tmp/x'], "unknown or empty flag '--data_dir'"),
    (['mnist', '--data_dir='], "unknown or empty flag '--data_dir='"),
    ([], 'needs a TFDS dataset name'),
    (['mnist', 'cifar10'], "got 'mnist' and 'cifar10'"),
])
def test_bad_arguments_are_one_line_before_any_environment_is_built(tmp_path, args, says):
  env = {**os.environ, 'VENV': str(tmp_path / 'venv'),
         'PREPARE_VENV': str(tmp_path / 'venv-prepare')}
  proc = subprocess.run([os.path.join(ROOT, 'launch.sh'), 'prepare', *args],
                        env=env, capture_output=True, text=True, timeout=60)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: ') and says in lines[0], proc.stderr
  assert 'usage: ./launch.sh prepare NAME' in lines[0]
  assert os.listdir(tmp_path) == []  # No environment was made.


@pytest.mark.parametrize('args', [
    ['--bogus'], ['mnist', '--data_dir', '/tmp/x'], ['mnist', '--data_dir='], [],
    ['mnist', 'cifar10']])
def test_the_module_refuses_what_launch_sh_refuses(args):
  with pytest.raises(errors.UserError):
    prepare.parse_args(args)


def test_a_home_relative_flag_is_expanded():
  assert prepare.parse_args(['mnist', '--data_dir=~/tfds'])[1] == {
      'data_dir': os.path.expanduser('~/tfds')}


def test_the_module_reads_the_flags():
  assert prepare.parse_args(['mnist:3.0.1', '--data_dir=/d', '--manual_dir=/m',
                             '--download_dir=/dl']) == (
      'mnist:3.0.1', {'data_dir': '/d', 'manual_dir': '/m', 'download_dir': '/dl'})


def _requirements(path: str) -> dict[str, str]:
  with open(os.path.join(ROOT, path)) as f:
    lines = [l.split('#')[0].strip() for l in f]
  return dict(re.fullmatch(r'([A-Za-z0-9_.\-]+)==(\S+)', l).groups()
              for l in lines if l)


def test_tensorflow_is_in_the_prepare_environment_only():
  train = {k.lower().replace('_', '-') for k in _requirements('requirements.txt')}
  prep = _requirements('lib/data/requirements-prepare.txt')  # Every line pinned.
  assert not any(k.startswith('tensorflow') and k != 'tensorflow-datasets'
                 for k in train)
  assert prep['tensorflow-cpu'] and prep['tensorflow-datasets'] == '4.9.10'
  assert _requirements('requirements.txt')['tensorflow-datasets'] == '4.9.10'
  for needed in ('apache-beam', 'mlcroissant', 'importlib_resources'):
    assert needed in prep  # `tfds build` imports them.
