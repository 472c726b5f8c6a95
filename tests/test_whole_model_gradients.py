"""Every model's train-step gradient, rewrites as the backend gets them, equals
JAX's own autodiff of the plain model: compiled with jit, on whole models.

tests/whole_model_gradients.py computes the errors in a subprocess (float64
needs jax_enable_x64 before JAX starts). ResNet-18 at 224x224 is the case
that failed before the rewrites moved to lib/cpu_gradients: the max-pool
gradient searched the stem's BatchNorm + ReLU output for each window's
maximum again in the backward pass and, under jit, missed some (stem_bn's
bias gradient was 2.2x off in float64).

float64: every leaf of the gradient and of the updated batch statistics
within 1e-9 of the truth relative to the leaf's largest value; the rewrites
only reorder sums, which in float64 costs ~1e-15 (measured: at most 3e-15).

float32: the truth is still the float64 gradient, and the yardstick is JAX's
own float32 gradient of the plain model: ours must be no worse than twice its
error on any leaf, plus 1e-6 (8 float32 ulps) for leaves that XLA computes
almost exactly. JAX's own float32 error is large where BatchNorm divides by a
small batch variance (1.8e-2 on a ResNet-18 kernel at batch 2), so a fixed
tolerance would either pass a dropped window or fail an honest rounding; a
dropped window or a wrong routing moves a leaf by far more than rounding (the
old bug: 3.1 on stem_bn's bias, against 1.8e-3 for JAX's own float32). Where
BatchNorm sees two values per channel (the ImageNet ResNets' last stage at
32x32, batch 2) JAX's own float32 error reaches 1 and this check says
little; float64 is the guard there.
"""
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

FLOAT64_TOLERANCE = 1e-9
FLOAT32_FACTOR, FLOAT32_FLOOR = 2.0, 1e-6

FAST = ['logistic_regression', 'mlp', 'cnn', 'lenet5', 'resnet20',
        'resnet18@224',
        # Where the max_pool and pool_first rewrites meet saturating
        # activations and LeNet's max pooling (the sweeps run these).
        'cnn:activation=tanh', 'cnn:activation=sigmoid;pooling=max',
        'lenet5:pooling=max',
        # The norm layers (under a norm, pool_first is off) and a plain
        # ResNet (issue 27): 57 s of CPU time in a process of their own
        # (2026-12-03, 2-core AMD EPYC VM at load 5).
        'cnn:norm=batch;pooling=max', 'cnn:norm=group',
        'cnn:norm=layer;activation=tanh', 'resnet20:shortcut=none;norm=group']
SLOW = ['alexnet', 'alexnet_paper', 'resnet18', 'resnet34', 'resnet50',
        'resnet101', 'resnet152', 'resnet32', 'resnet44', 'resnet56',
        'resnet110',
        # The other norm and shortcut settings: projections without a norm,
        # max pooling after a LayerNorm in the ImageNet plain net's stem.
        'lenet5:norm=group;pooling=max', 'resnet20:norm=none;shortcut=projection',
        'resnet18:norm=layer;shortcut=none']


def _errors(models: list[str], batch: int = 2) -> list[dict]:
  # The backend JAX picks (no JAX_PLATFORMS=cpu): on a GPU machine this
  # checks the GPU's programs, with the rewrites 'auto' gives there.
  proc = subprocess.run(
      [sys.executable, '-m', 'tests.whole_model_gradients',
       f'--models={",".join(models)}', f'--batch={batch}'],
      cwd=ROOT, capture_output=True, text=True, timeout=1800)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _failures(results: list[dict]) -> list[str]:
  bad = []
  for r in results:
    for setting, e in r['settings'].items():
      where = f"{r['model']} at {r['input']}, fast_cpu_gradients={setting}"
      for leaf, err in e['float64'].items():
        if err > FLOAT64_TOLERANCE:
          bad.append(f'{where}, float64 {leaf}: {err:.2e}')
      for leaf, err in e['float32'].items():
        allowed = FLOAT32_FACTOR * e['float32_plain'][leaf] + FLOAT32_FLOOR
        if err > allowed:
          bad.append(f'{where}, float32 {leaf}: {err:.2e} > {allowed:.2e} '
                     f"(JAX's own: {e['float32_plain'][leaf]:.2e})")
  return bad


def _check(models: list[str], batch: int = 2) -> None:
  results = _errors(models, batch)
  assert [r['model'] for r in results] == [m.split('@')[0].split(':')[0]
                                           for m in models]
  # Something was compared: every model has its gradient leaves.
  assert all(r['settings'] and all(e['float64'] for e in r['settings'].values())
             for r in results)
  assert not _failures(results), '\n'.join(_failures(results))


def test_small_models_and_resnet18_at_imagenet_size():
  _check(FAST)


def test_sliced_filter_gradients_at_a_batch_of_two_slices():
  """sliced_filter_grad sums the filter gradient over slices of 128
  examples; it runs only at batches of 256 and more."""
  from lib import cpu_gradients  # pylint: disable=g-import-not-at-top
  _check(['cnn', 'lenet5'], batch=2 * cpu_gradients.FILTER_GRAD_SLICE)


@pytest.mark.slow
def test_every_other_model_of_the_zoo():
  _check(SLOW)


def test_every_registered_model_is_checked():
  from lib import models  # pylint: disable=g-import-not-at-top
  checked = {m.split('@')[0].split(':')[0] for m in FAST + SLOW}
  assert checked == set(models.MODELS)


def test_the_check_fails_on_a_dropped_window():
  """The comparison catches what the old bug did: one leaf off by more than
  rounding, in either precision."""
  leaf = "['grads']['stem_bn']['bias']"
  result = {'model': 'resnet18', 'input': [224, 224, 3], 'settings': {'auto': {
      'float64': {leaf: 2.2}, 'float32': {leaf: 3.1},
      'float32_plain': {leaf: 1.8e-3}}}}
  assert len(_failures([result])) == 2
  result['settings']['auto'].update(float64={leaf: 3e-15}, float32={leaf: 2e-3})
  assert not _failures([result])
