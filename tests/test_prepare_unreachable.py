"""`./launch.sh prepare` without network: the download host is tried first
(name resolution and one TCP connection, a few seconds), and an unreachable
one stops the command in one line that says what to do offline, with nothing
left behind. The check is skipped when nothing needs downloading. The fast
tests use real sockets on loopback; the slow ones run the real command in a
network namespace with no network at all (`unshare --user --net`) and on
this machine's own network (which, here, has no route to the download hosts).
"""
import os
import shutil
import socket
import subprocess
import time

import pytest
import tensorflow_datasets as tfds

from lib.data import prepare
from tests import upstream_files
from tests.conftest import ROOT
# The prepare environment, built once and shared with the other prepare tests.
from tests.test_prepare_offline import ENV, NO_NETWORK, prepare_env  # pylint: disable=unused-import

MNIST_FILES = ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz',
               'train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz']


def test_a_listening_port_is_reachable():
  with socket.socket() as server:
    server.bind(('127.0.0.1', 0))
    server.listen()
    assert prepare.unreachable('127.0.0.1', server.getsockname()[1]) is None


def test_a_closed_port_says_the_connection_failed():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]  # Free once closed: nothing listens there.
  why = prepare.unreachable('127.0.0.1', port, timeout=2)
  assert why == 'TCP connection to 127.0.0.1 failed: Connection refused'


def test_a_name_that_never_resolves_says_so_in_a_few_seconds():
  start = time.monotonic()
  why = prepare.unreachable('no-such-host.invalid', 443, timeout=3)  # RFC 2606.
  assert why.startswith('name resolution'), why
  assert time.monotonic() - start < 4


def test_what_must_be_downloaded(tmp_path):
  mnist = tfds.builder_cls('mnist')
  downloads, manual = str(tmp_path / 'downloads'), tmp_path / 'manual'
  missing = prepare._missing_downloads(mnist, None, downloads)
  assert sorted(missing.values()) == MNIST_FILES
  assert {prepare._endpoint(u) for u in missing} == {('storage.googleapis.com', 443)}
  # Files in --manual_dir (TFDS hashes them there) need no download.
  manual.mkdir()
  for name in MNIST_FILES:
    (manual / name).write_bytes(b'')
  assert prepare._missing_downloads(mnist, str(manual), downloads) == {}
  # Nor do files in TFDS's download cache.
  cifar10 = tfds.builder_cls('cifar10')
  assert len(prepare._missing_downloads(cifar10, None, downloads)) == 1
  upstream_files.seed_download_cache('cifar10', {'cifar-10-binary.tar.gz': b'x'},
                                     downloads)
  assert prepare._missing_downloads(cifar10, None, downloads) == {}
  # imagenet2012's registered files are the ones the user fetches by hand.
  assert prepare._missing_downloads(tfds.builder_cls('imagenet2012'), None,
                                    downloads) == {}


def test_a_failed_build_removes_unfinished_downloads_and_the_folders_it_made(tmp_path):
  downloads = tmp_path / 'downloads'
  (downloads / 'mnist').mkdir(parents=True)
  (downloads / 'earlier.gz').write_bytes(b'kept')
  before = prepare._entries(str(downloads))
  # What TFDS leaves when a download fails part-way (download_manager._download).
  tmp = downloads / 'mnist' / f'cvdf-datasets_mnist_t10k-images.gz.tmp.{"a1" * 16}'
  tmp.mkdir()
  (tmp / 't10k-images-idx3-ubyte.gz').write_bytes(b'partial')
  (downloads / 'extracted').mkdir()
  (downloads / 'done.gz').write_bytes(b'finished download')
  prepare._remove_unfinished_downloads(str(downloads), before)
  assert sorted(os.listdir(downloads)) == ['done.gz', 'earlier.gz', 'mnist']
  assert os.listdir(downloads / 'mnist') == []  # It was there before.


def _launch(*args: str, netns: bool) -> tuple[subprocess.CompletedProcess, float]:
  command = [os.path.join(ROOT, 'launch.sh'), *args]
  if netns:
    # A new network namespace: only a loopback device, which is down.
    command = ['unshare', '--user', '--map-root-user', '--net', *command]
  start = time.monotonic()
  proc = subprocess.run(command, cwd=ROOT, env=dict(ENV), capture_output=True,
                        text=True, timeout=300)
  return proc, time.monotonic() - start


def _network(kind: str) -> bool:
  if kind == 'namespace':
    if shutil.which('unshare') is None or subprocess.run(
        ['unshare', '--user', '--map-root-user', '--net', 'true']).returncode:
      pytest.skip('unshare cannot make a network namespace here')
    return True
  if prepare.unreachable('storage.googleapis.com', 443) is None:
    pytest.skip("this machine reaches MNIST's download host")
  return False


@pytest.mark.slow
@pytest.mark.parametrize('network', ['namespace', 'this machine'])
def test_offline_prepare_stops_at_once_in_one_line(prepare_env, tmp_path, network):
  netns = _network(network)
  data_dir, downloads = tmp_path / 'tfds', tmp_path / 'downloads'
  downloads.mkdir()  # One that exists: it must be left as it was.
  proc, seconds = _launch('prepare', 'mnist', f'--data_dir={data_dir}',
                          f'--download_dir={downloads}', netns=netns)
  assert proc.returncode == 2, proc.stdout + proc.stderr[-3000:]
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert len(lines) == 1, proc.stderr[-3000:]
  assert lines[0].startswith(
      'error: cannot download mnist: storage.googleapis.com:443 is unreachable '
      'from here (name resolution failed: '), lines[0]
  assert lines[0].endswith(
      f'offline, run `./launch.sh prepare mnist` on a machine with network and '
      f'copy the mnist folder of its data_dir into {data_dir}, or download '
      f'{", ".join(MNIST_FILES)} from https://storage.googleapis.com/'
      'cvdf-datasets/mnist/ into a folder and pass --manual_dir=FOLDER'), lines[0]
  assert seconds < 60, seconds  # Was 206 s of retries; the check itself is ms.
  print(f'{network}: refused in {seconds:.1f} s: {lines[0]}')
  assert not data_dir.exists() and os.listdir(downloads) == []


@pytest.mark.slow
def test_files_in_manual_dir_skip_the_check_and_a_failed_build_leaves_nothing(
    prepare_env, tmp_path):
  """Offline, mnist's four files in --manual_dir: no network is tried and
  TFDS's builder runs. Ours are not the real files (tests/upstream_files.py),
  so TFDS refuses their checksums part-way through: one line, and the
  data_dir and download folder it made are gone again."""
  _network('namespace')
  manual = tmp_path / 'manual'
  manual.mkdir()
  for name, data in upstream_files.mnist_files().items():
    (manual / name).write_bytes(data)
  data_dir = tmp_path / 'tfds'
  command = ['prepare', 'mnist', f'--data_dir={data_dir}', f'--manual_dir={manual}']
  proc, _ = _launch(*command, netns=True)
  assert proc.returncode == 2, proc.stdout + proc.stderr[-3000:]
  lines = [l for l in proc.stderr.splitlines() if l.startswith('error: ')]
  assert len(lines) == 1 and 'unreachable' not in lines[0], proc.stderr[-3000:]
  assert lines[0].startswith('error: a downloaded file of mnist is not the one '
                             'TFDS knows (Artifact https://storage.googleapis.com/'
                             'cvdf-datasets/mnist/'), lines[0]
  assert lines[0].endswith('replace that file with the right one, or remove '
                           'it, and run again'), lines[0]
  assert not data_dir.exists()
  assert sorted(os.listdir(manual)) == MNIST_FILES  # The user's files stay.
