"""Shared fixtures: the digits dataset prepared once per session, and a way
to run the project's entry points as real subprocesses."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))



@pytest.fixture(scope='session', autouse=True)
def compilation_cache():
  """The entry points these tests start keep compiled programs in a cache
  (lib/compile_cache.py): one for this test session, not the user's."""
  if os.environ.get('JAXVISION_COMPILATION_CACHE'):
    yield os.environ['JAXVISION_COMPILATION_CACHE']
    return
  path = tempfile.mkdtemp(prefix='jaxvision_test_xla_cache_')
  os.environ['JAXVISION_COMPILATION_CACHE'] = path
  yield path
  del os.environ['JAXVISION_COMPILATION_CACHE']
  shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope='session')
def data_dir(tmp_path_factory) -> str:
  """A data_dir holding the prepared digits dataset (real array_record files)."""
  from lib.data import catalog
  path = str(tmp_path_factory.mktemp('tfds'))
  catalog.prepare_embedded('digits', path)
  return path


def pythonpath(*paths: str) -> str:
  """`paths` first, then the PYTHONPATH this process has: on the GPU machine
  the carried wheels come through PYTHONPATH (experiments/bench/device_install.sh)."""
  return os.pathsep.join([*paths, *filter(None, [os.environ.get('PYTHONPATH')])])


def run_module(module: str, *args: str, devices: int = 1, env: dict | None = None,
               timeout: float = 300, **popen) -> subprocess.CompletedProcess:
  """Runs `python -m module args` from the repo root with N forced CPU devices."""
  full_env = dict(os.environ)
  full_env['XLA_FLAGS'] = f'--xla_force_host_platform_device_count={devices}'
  full_env['JAX_PLATFORMS'] = 'cpu'
  full_env.update(env or {})
  return subprocess.run([sys.executable, '-m', module, *args], cwd=ROOT,
                        env=full_env, capture_output=True, text=True,
                        timeout=timeout, **popen)


@pytest.fixture(scope='session')
def slurm_cluster():
  """A real single-node SLURM cluster on localhost (tests/slurm/cluster.sh).

  Brought up once per session and left running (`cluster.sh down` stops it).
  """
  if os.geteuid() != 0:
    pytest.skip('the test SLURM cluster needs root (apt-get and daemons)')
  script = os.path.join(ROOT, 'tests', 'slurm', 'cluster.sh')
  proc = subprocess.run(['bash', script, 'up'], capture_output=True, text=True,
                        timeout=900)
  assert proc.returncode == 0, f'cluster.sh up failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}'
  return script
