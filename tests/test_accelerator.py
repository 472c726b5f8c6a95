"""Setup picks jax's plugin for the accelerator it finds, and a run that asked
for an accelerator but got the CPU stops (issue: accelerator users).

The GPU is a stand-in nvidia-smi on PATH (this machine has none); pip's real
resolver runs in --dry-run mode against the package index, so the pins are
checked without the multi-GB download.
"""
import os
import subprocess

import pytest

from tests.conftest import ROOT, run_module
from tests.test_slurm_sweep import venv_for_launch_sh  # pylint: disable=unused-import


def _fake_nvidia_smi(tmp_path, cuda: str) -> str:
  bin_dir = tmp_path / f'bin_cuda{cuda}'
  bin_dir.mkdir()
  smi = bin_dir / 'nvidia-smi'
  smi.write_text('#!/bin/sh\necho "| NVIDIA-SMI 580.65.06   Driver Version: 580.65.06   '
                 f'CUDA Version: {cuda}     |"\n')
  smi.chmod(0o755)
  return f'{bin_dir}:{os.environ["PATH"]}'


def _setup_dry_run(venv, path=None, **env):
  full = {k: v for k, v in os.environ.items() if k != 'ACCEL'}
  full.update(VENV=venv, **env)
  if path:
    full['PATH'] = path
  return subprocess.run([os.path.join(ROOT, 'launch.sh'), 'setup', '--dry-run'],
                        cwd=ROOT, env=full, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize('cuda, accel', [('12.4', 'cuda12'), ('13.0', 'cuda13')])
def test_setup_finds_the_gpu_and_resolves_its_pinned_plugin(
    tmp_path, venv_for_launch_sh, cuda, accel):
  proc = _setup_dry_run(venv_for_launch_sh, _fake_nvidia_smi(tmp_path, cuda))
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = proc.stdout.splitlines()
  assert lines[0] == f'ACCEL={accel}'
  plugin = next(l for l in lines if l.startswith(f'lib/accelerator/requirements-{accel}.txt'))
  assert f'jax-{accel}-plugin-0.12.0.1' in plugin and f'jax-{accel}-pjrt-0.12.0.1' in plugin


@pytest.mark.parametrize('env, path_cuda, message', [
    ({'ACCEL': 'rocm'}, None, 'error: ACCEL=rocm: use cuda12, cuda13, tpu or cpu'),
    ({}, '11.8', 'error: the NVIDIA driver supports CUDA 11; jax needs 12 or later'),
])
def test_setup_refuses_what_it_cannot_install_in_one_line(
    tmp_path, venv_for_launch_sh, env, path_cuda, message):
  path = _fake_nvidia_smi(tmp_path, path_cuda) if path_cuda else None
  proc = _setup_dry_run(venv_for_launch_sh, path, **env)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[0].startswith(message), proc.stderr


def test_a_run_that_asked_for_a_gpu_and_got_the_cpu_stops(data_dir, tmp_path):
  workdir = tmp_path / 'run'
  proc = run_module('experiments.train', '--config=configs/cnn.py:digits',
                    f'--workdir={workdir}', f'--config.data.data_dir={data_dir}',
                    env={'ACCEL': 'cuda12'})
  assert proc.returncode == 2
  [line] = proc.stderr.strip().splitlines()
  assert line.startswith('error: ACCEL=cuda12 asked for a GPU but JAX runs on the CPU '
                         '(backend cpu: 1 device(s) (cpu) in 1 process(es))')
  assert not workdir.exists()


def test_a_run_names_its_backend_first(data_dir, tmp_path):
  proc = run_module('experiments.train', '--config=configs/cnn.py:digits,runlocal',
                    f'--workdir={tmp_path / "run"}', f'--config.data.data_dir={data_dir}',
                    env={'ACCEL': 'cpu'})
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.splitlines()[0] == 'backend cpu: 1 device(s) (cpu) in 1 process(es)'


def test_the_cpu_flags_stay_off_an_accelerator_run(monkeypatch):
  from lib import xla_cpu  # pylint: disable=g-import-not-at-top
  for accel, expected in (('cuda12', ''), ('cpu', xla_cpu.YNN_FUSION_OFF)):
    monkeypatch.setenv('ACCEL', accel)
    monkeypatch.setenv('XLA_FLAGS', '')
    xla_cpu.prepare_for('bfloat16', ['lenet5'])
    assert (expected in os.environ['XLA_FLAGS'].split()) if expected else (
        os.environ['XLA_FLAGS'] == '')
    if accel == 'cpu':
      assert '--xla_cpu_use_onednn=true' in os.environ['XLA_FLAGS'].split()
