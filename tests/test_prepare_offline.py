"""`./launch.sh prepare` runs TFDS's real mnist, cifar10 and imagenet2012
builders (with TensorFlow, in .venv-prepare) offline, from small files in the
upstream formats (tests/upstream_files.py), and the real trainer then trains
configs/lenet5.py:mnist, configs/resnet.py:cifar10 and
configs/resnet.py:imagenet2012 (at 64x64) a few steps on what they wrote.
A cifar10 built by TFDS as tfrecord is converted in place by the same
command. Every command after the environment's set-up runs with the network
refused (tests/no_network).

Slow: the first run builds .venv-prepare (TensorFlow: about 2.2 GB, 1-1.5 min
here from PyPI; cached by launch.sh's stamp like .venv).
"""
import hashlib
import json
import math
import os
import re
import shlex
import subprocess
import sys

import pytest

from lib import errors
from lib.data import catalog
from tests import upstream_files
from tests.conftest import ROOT, run_module

pytestmark = pytest.mark.slow
NO_NETWORK = os.path.join(ROOT, 'tests', 'no_network')
ENV = dict(os.environ)


def launch(*args: str, network: bool = False, timeout: float = 900):
  env = dict(ENV) if network else {**ENV, 'PYTHONPATH': NO_NETWORK}
  return subprocess.run([os.path.join(ROOT, 'launch.sh'), *args], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope='module')
def prepare_env(tmp_path_factory):
  """.venv-prepare, built once (pip reaches PyPI) and reused after. launch.sh
  checks the training environment too: it gets one it accepts without
  installing, whose python is this interpreter (as venv_for_launch_sh in
  tests/test_slurm_sweep.py)."""
  venv = tmp_path_factory.mktemp('venv')
  (venv / 'bin').mkdir()
  (venv / 'bin' / 'python').write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
  (venv / 'bin' / 'python').chmod(0o755)
  with open(os.path.join(ROOT, 'requirements.txt'), 'rb') as f:
    (venv / '.requirements.sha256').write_text(hashlib.sha256(f.read()).hexdigest() + '\n')
  ENV['VENV'] = str(venv)
  proc = launch('setup', '--prepare', network=True, timeout=1800)
  assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope='module')
def downloads(tmp_path_factory) -> str:
  """TFDS's download cache holding our mnist and cifar10 files."""
  path = str(tmp_path_factory.mktemp('downloads'))
  upstream_files.seed_download_cache('mnist', upstream_files.mnist_files(), path)
  upstream_files.seed_download_cache('cifar10', upstream_files.cifar10_files(), path)
  return path


def prepare(name: str, data_dir: str, *flags: str) -> str:
  proc = launch('prepare', name, f'--data_dir={data_dir}', *flags)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
  return proc.stdout


def train(config: str, data_dir: str, workdir, *flags: str) -> dict:
  proc = run_module(
      'experiments.train', f'--config={config}', f'--workdir={workdir}',
      f'--config.data.data_dir={data_dir}', '--config.train.num_epochs=0',
      '--config.train.num_steps=6', '--config.train.log_every_steps=3',
      '--config.train.batch_size=16', *flags, timeout=600,
      env={'PYTHONPATH': NO_NETWORK})
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((workdir / 'results.json').read_text())
  assert results['steps'] == 6 and math.isfinite(results['test_loss'])
  losses = [json.loads(line)['loss'] for line in
            (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert losses and all(math.isfinite(x) for x in losses)
  return results


def test_mnist_prepared_by_tfds_builder_then_trained(prepare_env, downloads, tmp_path):
  data_dir = str(tmp_path / 'tfds')
  out = prepare('mnist', data_dir, f'--download_dir={downloads}')
  assert 'mnist:3.0.1 read by lib/data (test 10,000, train 60,000 examples)' in out
  assert sorted(os.listdir(os.path.join(data_dir, 'mnist'))) == ['3.0.1']
  files = os.listdir(os.path.join(data_dir, 'mnist', '3.0.1'))
  assert any('.array_record-' in f for f in files)
  assert not any('.tfrecord-' in f for f in files)
  results = train('configs/lenet5.py:mnist', data_dir, tmp_path / 'run')
  assert results['dataset'] == 'mnist' and results['chosen_on'] == 'validation'
  # Prepared already: said so, nothing rebuilt.
  assert 'prepared already' in prepare('mnist:3.0.1', data_dir)


def test_cifar10_prepared_by_tfds_builder_then_trained(prepare_env, downloads, tmp_path):
  data_dir = str(tmp_path / 'tfds')
  out = prepare('cifar10', data_dir, f'--download_dir={downloads}')
  assert 'cifar10:3.0.2 read by lib/data (test 100, train 300 examples)' in out
  results = train('configs/resnet.py:cifar10', data_dir, tmp_path / 'run')
  assert results['dataset'] == 'cifar10' and results['chosen_on'] == 'validation'


def test_imagenet2012_prepared_from_a_manual_dir_of_tars_then_trained(prepare_env, tmp_path):
  manual_dir, data_dir = str(tmp_path / 'manual'), str(tmp_path / 'tfds')
  upstream_files.imagenet2012_manual_dir(manual_dir)
  out = prepare('imagenet2012', data_dir, f'--manual_dir={manual_dir}')
  assert 'imagenet2012:5.1.0 read by lib/data (train 8, validation 8 examples)' in out
  # The config's minival (train[99%:]) of 8 training images is empty: halves.
  results = train('configs/resnet.py:imagenet2012', data_dir, tmp_path / 'run',
                  '--config.data.image_size=64', '--config.train.batch_size=4',
                  '--config.data.train_split=train[:50%]',
                  '--config.data.validation_split=train[50%:]')
  assert results['test_split'] == 'validation' and results['chosen_on'] == 'validation'


def test_a_tfrecord_dataset_is_converted_in_place(prepare_env, downloads, tmp_path):
  data_dir = str(tmp_path / 'tfds')
  build = ('import sys, tensorflow_datasets as tfds; '
           'tfds.builder("cifar10", data_dir=sys.argv[1], file_format="tfrecord")'
           '.download_and_prepare(download_dir=sys.argv[2])')
  proc = subprocess.run(
      [os.path.join(ROOT, os.environ.get('PREPARE_VENV', '.venv-prepare'), 'bin',
                    'python'), '-c', build,
       data_dir, downloads], env={**ENV, 'PYTHONPATH': NO_NETWORK},
      capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  version_dir = os.path.join(data_dir, 'cifar10', '3.0.2')
  before = set(os.listdir(version_dir))
  # Our reader refuses it with the command that fixes it; that command runs.
  with pytest.raises(errors.UserError) as refused:
    catalog.builder('cifar10', data_dir)
  command = re.search(r'`(\./launch\.sh prepare [^`]*)`', str(refused.value)).group(1)
  assert command == f'./launch.sh prepare cifar10:3.0.2 --data_dir={data_dir}'
  proc = launch(*shlex.split(command)[1:])
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
  out = proc.stdout
  assert 'array_record files added next to the tfrecord ones' in out
  assert 'cifar10:3.0.2 read by lib/data' in out
  added = set(os.listdir(version_dir)) - before
  assert sorted(added) == ['cifar10-test.array_record-00000-of-00001',
                           'cifar10-train.array_record-00000-of-00001']


@pytest.mark.parametrize('args, says', [
    (['mnsit'], "TFDS has no dataset 'mnsit'; did you mean mnist"),
    (['mnist:9.9.9'], 'e.g. ./launch.sh prepare mnist:3.0.1'),
    (['imagenet2012'], 'pass --manual_dir=DIR (TFDS says: manual_dir should '
     'contain two files: ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar'),
])
def test_bad_input_is_one_line_and_writes_nothing(prepare_env, tmp_path, args, says):
  data_dir = tmp_path / 'tfds'
  proc = launch('prepare', *args, f'--data_dir={data_dir}')
  assert proc.returncode == 2
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr[-3000:]
  assert says in lines[0]
  assert not data_dir.exists()
