"""The training benchmark (experiments/bench) on tiny settings: its outputs
have the promised fields and plausible FLOP counts. No timing is asserted:
timings belong to the benchmark. (That the speed-ups it led to keep the
math is tests/test_cpu_gradients.py.)"""
import importlib.util
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib import flops
from tests.conftest import ROOT, pythonpath, run_module

HAS_TORCH = importlib.util.find_spec('torch') is not None


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
  """One tiny benchmark run: two models, a few steps, the MNIST-sized pipeline."""
  out = str(tmp_path_factory.mktemp('bench') / 'bench')
  proc = run_module(
      'experiments.bench', '--models=logreg,mlp', '--batch_sizes=16',
      '--steps=2', '--warmup=1', '--max_seconds=0.5', '--min_windows=3',
      '--peak_size=256',
      '--peak_repeats=2', '--pipeline=mnist', '--mnist_examples=256',
      '--pipeline_batch_size=32', '--pipeline_steps=2', f'--out={out}', timeout=240)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(out + '.json') as f:
    results = json.load(f)
  with open(out + '.md') as f:
    markdown = f.read()
  return results, markdown, proc.stdout


def test_json_has_the_table_fields(bench):
  results, _, _ = bench
  env = results['environment']
  for key in ('date', 'machine', 'cpu_count', 'load_before', 'load_after',
              'jax_version', 'xla_flags'):
    assert key in env
  assert env['matmul_peak_jax']['flops_per_s_best'] > 0
  rows = results['train_speed']
  assert [(r['model'], r['batch_size']) for r in rows] == [('logreg', 16), ('mlp', 16)]
  for r in rows:
    assert r['input'] == '28x28x1' and r['params'] > 0
    assert r['flops_per_example'] > 0
    ours = r['jax']
    for key in ('step_ms', 'examples_per_s', 'gflops_per_s', 'fraction_of_peak'):
      assert ours[key] > 0, key
    assert ours['examples_per_s'] == pytest.approx(16 / (ours['step_ms'] / 1e3))
    if HAS_TORCH:
      assert r['torch']['examples_per_s'] > 0 and r['ratio'] > 0
      assert r['torch_params'] == r['params']  # The same network on both sides.
    else:
      assert r['torch'] is None and r['ratio'] is None
  if not HAS_TORCH:
    assert 'not installed' in env['torch_missing']


def test_flop_counts_are_plausible(bench):
  rows = {r['model']: r for r in bench[0]['train_speed']}
  # A dense layer costs 2 FLOPs per weight forward, 2 for its weight gradient
  # and 2 for its input gradient (none for the first layer): 4-6 x params.
  for name in ('logreg', 'mlp'):
    per_param = rows[name]['flops_per_example'] / rows[name]['params']
    assert 3.5 < per_param < 8, (name, per_param)
  assert rows['mlp']['params'] == 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10


def test_pipeline_rows(bench):
  rows = bench[0]['input_pipeline']
  assert {(r['dataset'], r['pipeline']) for r in rows} == {('mnist', 'grain'),
                                                           ('mnist', 'device')}
  for r in rows:
    assert r['input'] == '28x28x1' and r['train_examples'] == 256
    assert r['synthetic_step_ms'] > 0 and r['pipeline_step_ms'] > 0
    assert np.isfinite(r['overhead_percent'])


def test_markdown_tables(bench):
  _, markdown, stdout = bench
  assert '| model | input | batch |' in markdown and 'ours / PyTorch' in markdown
  assert '| logreg | 28x28x1 | 16 |' in markdown
  assert '## Input pipeline overhead' in markdown and '| mnist |' in markdown
  assert 'matmul peak' in markdown
  assert ('PyTorch 2' in markdown) == HAS_TORCH
  assert markdown.strip() in stdout  # Printed as well as written.


def test_bad_model_name_is_one_line_error():
  proc = run_module('experiments.bench', '--models=vgg', '--pipeline=', timeout=60)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      "error: unknown benchmark model 'vgg'; valid names: alexnet, cnn, "
      'lenet5, logreg, mlp, resnet20, resnet50']


def test_xla_flops_counts_a_matmul():
  a, b = jnp.ones((64, 32)), jnp.ones((32, 16))
  lowered = jax.jit(jnp.dot).lower(a, b)
  assert flops.xla_flops(lowered) == 2 * 64 * 32 * 16
  assert flops.xla_flops(lowered.compile()) == 2 * 64 * 32 * 16
  assert flops.num_params({'w': a, 'b': [b]}) == 64 * 32 + 32 * 16


def test_profile_lists_ops():
  proc = run_module('experiments.bench.profile', '--model=logreg',
                    '--batch_size=8', '--steps=2', '--top=3', timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = proc.stdout.strip().splitlines()
  assert 'ms of XLA ops per step' in lines[0]
  assert len(lines) == 4 and all(' ms ' in line for line in lines[1:])


def test_xla_flags_study_compares_variants(tmp_path):
  out = str(tmp_path / 'study')
  proc = run_module('experiments.bench.xla_flags_study', '--models=resnet20',
                    '--batch_sizes=4', '--steps=1', '--max_seconds=0.1',
                    '--variant=now:', '--variant=plain:--fast_cpu_gradients=off',
                    '--variant=ynn_off:--xla_cpu_experimental_ynn_fusion_type=',
                    f'--out={out}', timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(out + '.md') as f:
    table = f.read()
  assert '| now | `(defaults)` |' in table and '1.00x' in table
  assert '`--fast_cpu_gradients=off`' in table and '| ynn_off |' in table


def test_xla_flags_study_rejects_an_unknown_rewrite():
  proc = run_module('experiments.bench.xla_flags_study', '--models=logreg',
                    '--variant=x:--fast_cpu_gradients=fast', timeout=60)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      'error: --fast_cpu_gradients takes auto, on, off or rewrite names '
      '(max_pool, conv_barrier, matmul_filter_grad, sliced_filter_grad, '
      "pool_first), got 'fast'"]


def test_xla_flags_study_pseudo_flag_chooses_the_rewrites():
  from experiments.bench import xla_flags_study
  from lib import cpu_gradients
  options, pseudo = xla_flags_study.compiler_options(
      '--fast_cpu_gradients=max_pool,pool_first --xla_cpu_use_onednn=false')
  assert options == {'xla_cpu_use_onednn': False}
  assert xla_flags_study.rewrites(pseudo) == {'max_pool', 'pool_first'}
  assert xla_flags_study.rewrites({}) == cpu_gradients.resolve('auto')


@pytest.mark.skipif(not HAS_TORCH, reason='torch is a benchmark-only install')
def test_torch_cnn_pool_first_is_the_same_network(monkeypatch):
  import torch  # pylint: disable=g-import-not-at-top
  from experiments.bench import torch_models
  torch.manual_seed(0)
  model = torch_models.CNN(10)
  x = torch.rand(4, 1, 28, 28)
  written = model(x)
  monkeypatch.setattr(torch_models, 'POOL_FIRST', True)
  torch.testing.assert_close(model(x), written)


@pytest.mark.skipif(not HAS_TORCH, reason='torch is a benchmark-only install')
def test_profile_lists_the_torch_twins_ops():
  proc = run_module('experiments.bench.profile', '--model=logreg', '--torch',
                    '--batch_size=8', '--steps=2', '--top=3', timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = [l for l in proc.stdout.strip().splitlines() if ' ms ' in l]
  assert '(PyTorch)' in lines[0] and len(lines) == 4


def _torch_python() -> str | None:
  """A Python with torch: this one, or the bench's own environment."""
  if HAS_TORCH:
    return sys.executable
  own = os.path.join(ROOT, '.venv-torch', 'bin', 'python')
  return own if os.path.exists(own) else None


@pytest.mark.skipif(_torch_python() is None, reason='torch is a benchmark-only install')
def test_torch_study_trains_our_network(data_dir, tmp_path):
  """The PyTorch side of experiments.bench.studies: the same parameters as
  our CNN (layer for layer), and it learns the real digits split."""
  from experiments.bench import study_spec  # pylint: disable=g-import-not-at-top
  from lib import trainer  # pylint: disable=g-import-not-at-top
  config = study_spec.config('train')
  config.data.data_dir = data_dir
  ours = trainer.Run(config)
  ours_params = sum(int(np.prod(x.shape)) for x in
                    jax.tree.leaves(ours.abstract_state.params))
  spec_path = study_spec.write(config, str(tmp_path), 'train', [0, 1])
  spec = json.loads(open(spec_path).read())
  spec['num_epochs'] = 3.0
  open(spec_path, 'w').write(json.dumps(spec))
  out = tmp_path / 'torch.json'
  proc = subprocess.run([_torch_python(), '-I', study_spec.TORCH_SCRIPT, f'--spec={spec_path}',
                         f'--out={out}', '--threads=1'],
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(out.read_text())
  assert result['params'] == ours_params
  accs = [r['test_accuracy'] for r in result['results']]
  assert len(accs) == 2 and min(accs) > 0.5 and accs[0] != accs[1]  # Seeds differ.


def test_studies_bench_refuses_bad_input_in_one_line(tmp_path):
  for args, expected in ((['--variants=warm,hot'], "--variants: unknown ['hot']"),
                         ([f'--torch_python={tmp_path}/none'], 'does not exist')):
    proc = run_module('experiments.bench.studies', *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert expected in proc.stderr


@pytest.mark.parametrize('hidden_module, named', [
    ('grain', 'grain'),
    # tensorflow_datasets imports its core lazily: a dependency it lacks
    # (the GPU machine has wrapt; a rehearsal environment may not) must be
    # found here, not in the middle of a section.
    ('wrapt', 'tensorflow_datasets.core.dataset_builder')])
def test_device_check_names_a_missing_package_and_the_wheel_recipe(
    tmp_path, hidden_module, named):
  """The GPU machine without the carried wheels: one line, exit 2, nothing written."""
  hidden = tmp_path / 'path' / hidden_module  # Stands for a machine without it.
  hidden.mkdir(parents=True)
  (hidden / '__init__.py').write_text(
      f'raise ModuleNotFoundError("No module named {hidden_module!r}")\n')
  proc = run_module('experiments.bench.device_check', f'--out={tmp_path / "out"}',
                    env={'PYTHONPATH': pythonpath(str(tmp_path / 'path'))})
  assert proc.returncode == 2, proc.stderr[-2000:]
  [line] = proc.stderr.strip().splitlines()
  assert line.startswith(f"error: cannot import {named} (ModuleNotFoundError: No module "
                         f"named {hidden_module!r})"), line
  assert 'experiments/bench/device_wheels.sh' in line
  assert not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_device_check_rehearses_on_cpu(tmp_path):
  """The GPU check must work the first time it meets a GPU: its sections run
  here small (--quick) and write the report."""
  proc = run_module('experiments.bench.device_check', '--quick',
                    '--sections=gradients,resume', f'--out={tmp_path}', timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = json.loads((tmp_path / 'device_check.json').read_text())
  assert report['backend'].startswith('backend cpu')
  assert all(c['settings'] for c in report['sections']['gradients']['checks'])
  assert report['sections']['gradients']['failures'] == []
  assert report['versions']['jax'] == jax.__version__
  resume = report['sections']['resume']
  assert resume['resumed_from_checkpoint'] and resume['max_abs_param_difference'] == 0.0
  assert (tmp_path / 'device_check.md').exists()
