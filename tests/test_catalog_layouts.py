"""The catalog reads every layout TFDS reads, and each mistake a user makes
with a data_dir gets one line naming what IS there and the command that
fixes it, which these tests then run. Datasets are written by TFDS's own
writer (tests/fake_tfds.py), the layouts by tests/tfds_layouts.py."""
import os
import re
import shlex
import shutil
import sys

import pytest
import tensorflow_datasets as tfds

from lib import errors
from lib.data import catalog, prepare
from tests import fake_tfds, tfds_layouts

VERSION = '9.9.9'  # fake_tfds' version.


@pytest.fixture(scope='module')
def pristine(tmp_path_factory) -> str:
  path = str(tmp_path_factory.mktemp('pristine'))
  fake_tfds.make('mnist', path, examples=16)
  fake_tfds.make('cifar10', path, examples=16)
  return path


@pytest.fixture
def data_dir(pristine, tmp_path) -> str:
  """A fresh copy of a data_dir holding mnist:9.9.9 and cifar10:9.9.9 as
  array_record."""
  path = str(tmp_path / 'tfds')
  shutil.copytree(pristine, path)
  return path


def version_dir(data_dir: str) -> str:
  return os.path.join(data_dir, 'mnist', VERSION)


def error(name: str, data_dir: str) -> str:
  with pytest.raises(errors.UserError) as e:
    catalog.data_source(catalog.builder(name, data_dir), 'train')
  message = str(e.value)
  assert '\n' not in message
  return message


def config_fix(message: str) -> dict:
  """The --config.data.FIELD=VALUE settings a message tells the user to use."""
  return dict(re.findall(r'--config\.data\.(\w+)=(\S+?)(?=[ ,;?)]|$)', message))


def readable(name: str, data_dir: str) -> None:
  source = catalog.data_source(catalog.builder(name, data_dir), 'train')
  assert len(source) == 16 and source[0]['image'].shape == (28, 28, 1)


@pytest.mark.parametrize('name', ['mnist', f'mnist:{VERSION}', 'mnist:9.*.*'])
def test_tfds_name_and_version_syntax(data_dir, name):
  readable(name, data_dir)


def test_the_newest_matching_version_is_read(data_dir):
  old = os.path.join(data_dir, 'mnist', '1.0.0')
  shutil.copytree(version_dir(data_dir), old)
  assert catalog.builder('mnist', data_dir).data_dir == version_dir(data_dir)
  assert catalog.builder('mnist:1.*.*', data_dir).data_dir == old


def test_tfds_convert_format_output_is_read_through_its_array_record_files(data_dir):
  tfds_layouts.converted(version_dir(data_dir))
  on_disk = tfds.builder_from_directory(version_dir(data_dir)).info
  assert on_disk.file_format.value == 'tfrecord'
  assert [f.value for f in on_disk.alternative_file_formats] == ['array_record']
  readable('mnist', data_dir)
  assert 'tensorflow' not in sys.modules


def test_tfrecord_only_says_to_run_prepare_which_converts_in_place(data_dir):
  tfds_layouts.tfrecord_only(version_dir(data_dir))
  message = error('mnist', data_dir)
  command = re.search(r'`\./launch\.sh prepare ([^`]*)`', message).group(1)
  # The command's arguments as prepare reads them: this dataset, its version,
  # this data_dir (tests/test_prepare_offline.py runs the conversion).
  name, flags = prepare.parse_args(shlex.split(command))
  assert (name, flags) == (f'mnist:{VERSION}', {'data_dir': data_dir})


def test_data_dir_one_level_above(data_dir, tmp_path):
  above = str(tmp_path)  # data_dir's parent: tmp/tfds/mnist/9.9.9
  message = error('mnist', above)
  assert f'mnist:{VERSION}' in message
  fix = config_fix(message)
  assert fix == {'data_dir': data_dir}
  readable('mnist', fix['data_dir'])


@pytest.mark.parametrize('below', ['mnist', f'mnist/{VERSION}'])
def test_data_dir_one_level_below(data_dir, below):
  message = error('mnist', os.path.join(data_dir, below))
  assert f'mnist:{VERSION}' in message
  fix = config_fix(message)
  assert fix == {'data_dir': data_dir}
  readable('mnist', fix['data_dir'])


def test_version_folder_files_copied_without_the_folder(data_dir):
  root = os.path.join(data_dir, 'mnist')
  for f in os.listdir(version_dir(data_dir)):
    shutil.move(os.path.join(version_dir(data_dir), f), root)
  os.rmdir(version_dir(data_dir))
  message = error('mnist', data_dir)
  # Named, not done for them: no command that moves the user's files.
  assert not re.search(r'\b(mv|find|rm|mkdir)\b', message), message
  target = re.search(r'a folder named by their version, (\S+)/:', message).group(1)
  assert target == version_dir(data_dir)
  os.mkdir(target)  # What the user then does.
  for f in os.listdir(root):
    if os.path.isfile(os.path.join(root, f)):
      shutil.move(os.path.join(root, f), target)
  readable('mnist', data_dir)


def test_a_name_with_its_version_after_a_slash_is_told_the_syntax(data_dir):
  """Not read as files laid out wrongly (mnist/VERSION is a version folder
  with dataset_info.json): nothing to move, only the name to write."""
  message = error(f'mnist/{VERSION}', data_dir)
  assert config_fix(message) == {'name': f'mnist:{VERSION}'}
  assert not re.search(r'\b(mv|find|rm|mkdir)\b', message), message
  readable(config_fix(message)['name'], data_dir)


def test_a_name_tfds_does_not_know_is_a_typo_whatever_the_data_dir(data_dir, tmp_path):
  for where in (data_dir, str(tmp_path / 'no_such_dir')):
    message = error('mnsit', where)
    assert 'launch.sh prepare' not in message
    assert config_fix(message) == {'name': 'mnist'}
  message = error('zzzqqq', data_dir)
  assert "no dataset 'zzzqqq' in TFDS's catalog" in message
  assert 'launch.sh prepare' not in message


def test_a_data_dir_with_a_tilde_is_the_home_folder(data_dir, monkeypatch, tmp_path):
  monkeypatch.setenv('HOME', os.path.dirname(data_dir))
  readable('mnist', os.path.join('~', os.path.basename(data_dir)))


def test_a_misspelled_name(data_dir):
  message = error('mnsit', data_dir)
  assert f'holds cifar10:{VERSION}, mnist:{VERSION};' in message
  assert config_fix(message) == {'name': 'mnist'}
  assert config_fix(error(f'mnsit:{VERSION}', data_dir)) == {'name': f'mnist:{VERSION}'}


def test_a_dataset_tfds_knows_is_no_typo_of_one_that_is_there(data_dir):
  message = error('cifar100', data_dir)  # Close to cifar10, which is there.
  assert './launch.sh prepare cifar100 ' in message and 'did you mean' not in message
  # Only the embedded mnist_5k there (its folder, as the catalog sees it):
  # asking for TFDS's mnist must not be answered with it.
  os.rename(os.path.join(data_dir, 'mnist'), os.path.join(data_dir, 'mnist_5k'))
  message = error('mnist', data_dir)
  assert './launch.sh prepare mnist ' in message and 'did you mean' not in message


def test_a_version_that_is_not_there(data_dir):
  message = error('mnist:3.0.1', data_dir)
  assert f'mnist:{VERSION}' in message
  fix = config_fix(message)
  assert fix == {'name': f'mnist:{VERSION}'}
  readable(fix['name'], data_dir)


def test_not_a_tfds_name(data_dir):
  assert 'mnist:3.0.1' in error('mnist 3', data_dir)


def test_not_prepared_lists_what_is_there(data_dir):
  message = error('svhn_cropped', data_dir)
  assert './launch.sh prepare svhn_cropped ' in message and f'mnist:{VERSION}' in message


def _shard(data_dir: str, split: str) -> str:
  d = version_dir(data_dir)
  return os.path.join(d, next(f for f in os.listdir(d) if f'-{split}.array_record-' in f))


def test_a_missing_shard(data_dir):
  os.remove(_shard(data_dir, 'train'))
  message = error('mnist', data_dir)
  assert 'shards are missing' in message and "split 'train'" in message


def test_a_truncated_shard(data_dir):
  path = _shard(data_dir, 'train')
  os.truncate(path, os.path.getsize(path) // 2)
  message = error('mnist', data_dir)
  assert 'holds 0 of its 16 records' in message and path in message


def _train(data_dir: str, workdir, *flags: str):
  from tests.conftest import pythonpath, run_module  # pylint: disable=g-import-not-at-top
  return run_module(
      'experiments.train', '--config=configs/lenet5.py:mnist,runlocal',
      f'--workdir={workdir}', f'--config.data.data_dir={data_dir}',
      # 16 examples of 10 classes: too few to hold 10% out by class.
      '--config.data.validation_fraction=0', *flags,
      env={'PYTHONPATH': pythonpath(os.path.join(os.path.dirname(__file__), 'no_network'))})


@pytest.mark.slow
def test_a_truncated_shard_stops_the_trainer_before_it_writes(data_dir, tmp_path):
  path = _shard(data_dir, 'test')
  os.truncate(path, os.path.getsize(path) - 100)
  proc = _train(data_dir, tmp_path / 'run')
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr[-3000:]
  assert path in lines[0] and "split 'test'" in lines[0]
  assert not (tmp_path / 'run').exists()


@pytest.mark.slow
def test_trains_from_a_converted_dataset_named_with_its_version(data_dir, tmp_path):
  tfds_layouts.converted(version_dir(data_dir))
  proc = _train(data_dir, tmp_path / 'run', f'--config.data.name=mnist:{VERSION}',
                '--config.train.batch_size=8')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert (tmp_path / 'run' / 'results.json').exists()
