"""Pretrained weights (lib/pretrained.py), offline: the tests write random
tensors under torchvision's (= timm's) key names to .safetensors files
themselves, from lib/pretrained's own mapping tables, and import them.

The heart of it, test_forward_matches_pytorch: PyTorch (torchvision's own
model code, and timm's for the ResNets) loads the same file with
load_state_dict(strict=True), so a key or shape of our table that is not
torchvision's fails there, and both forward passes run in float64, eval
mode; every mapped module's output and every block's must agree to float64
rounding. It needs a Python with torch (tests/requirements-torch-reference.txt);
without one it is skipped, as the benchmarks' torch tests are.
"""
import functools
import importlib.util
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors import numpy as st

from configs import common
from lib import errors, models, pretrained, train_step
from tests.conftest import ROOT

# torchvision's published parameter counts (its docs' "num_params").
TORCHVISION_PARAMS = {'alexnet': 61_100_840, 'resnet18': 11_689_512,
                      'resnet34': 21_797_672, 'resnet50': 25_557_032,
                      'resnet101': 44_549_160, 'resnet152': 60_192_808}
MODELS = list(TORCHVISION_PARAMS)
SIZE = {'alexnet': 71}  # The smallest sizes that exercise every layer fast.
DEFAULT_SIZE = 40


def variables_of(name: str, classes: int = 1000, channels: int = 3,
                 size: int | None = None, dtype=jnp.float32, **settings):
  """(model, the shapes of its variables) for `name`."""
  model = models.build(common.model(name, **settings), classes, dtype=dtype)
  size = size or SIZE.get(name, DEFAULT_SIZE)
  shapes = jax.eval_shape(lambda: model.init(
      jax.random.PRNGKey(0), jnp.zeros((1, size, size, channels)), train=False))
  return model, shapes


def random_checkpoint(name: str, shapes, seed: int = 0,
                      dtype=np.float64) -> dict[str, np.ndarray]:
  """torch-layout tensors for every key the table maps, with values a trained
  network could have: He-scaled weights, positive variances."""
  rng = np.random.default_rng(seed)
  out = {}
  for key, (_, _, kind, shape) in pretrained.expected_tensors(name, shapes).items():
    suffix = key.rsplit('.', 1)[1]
    if kind == 'bn':
      value = {'weight': lambda: rng.uniform(0.2, 0.6, shape),
               'bias': lambda: rng.normal(0, 0.1, shape),
               'running_mean': lambda: rng.normal(0, 0.1, shape),
               'running_var': lambda: rng.uniform(0.5, 2.0, shape)}[suffix]()
    elif suffix == 'weight':
      value = rng.normal(0, np.sqrt(2 / np.prod(shape[1:])), shape)
    else:
      value = rng.normal(0, 0.1, shape)
    out[key] = value.astype(dtype)
  return out


def write(tmp_path, tensors: dict, name: str = 'w.safetensors') -> str:
  path = str(tmp_path / name)
  st.save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, path)
  return path


def config_for(name: str, path: str, exclude: str = ''):
  return common.model(name, init_from=path, init_exclude=exclude)


def read(name: str, path: str, shapes, exclude: str = '', lines=None):
  log = lines.append if lines is not None else (lambda _: None)
  return pretrained.read(config_for(name, path, exclude), shapes, log)


def leaves(tree) -> dict[str, np.ndarray]:
  return {'/'.join(str(getattr(k, 'key', k)) for k in path): v
          for path, v in jax.tree_util.tree_leaves_with_path(tree)}


@pytest.mark.parametrize('name', MODELS)
def test_table_maps_every_variable_and_torchvisions_parameter_count(name):
  _, shapes = variables_of(name)
  want = pretrained.expected_tensors(name, shapes)
  ours = {f'{c}/{p}' for c in ('params', 'batch_stats')
          for p in leaves(shapes.get(c, {}))}
  assert {f'{c}/{p}' for c, p, _, _ in want.values()} == ours
  learned = sum(int(np.prod(s)) for k, (c, _, _, s) in want.items()
                if c == 'params')
  assert learned == TORCHVISION_PARAMS[name]


@pytest.mark.parametrize('name', ['resnet50'])
def test_import_puts_each_tensor_in_our_layout(name, tmp_path):
  """to_ours inverts to_torch on every tensor, and `read` gives back exactly
  the arrays whose torch layout was written. (AlexNet's 244 MB: its fc6 in
  the test below, the whole model against PyTorch and in tests/test_predict.py.)"""
  _, shapes = variables_of(name)
  rng = np.random.default_rng(1)
  ours = jax.tree.map(lambda s: rng.standard_normal(s.shape, np.float32),
                      dict(shapes))
  want = pretrained.expected_tensors(name, shapes)
  tensors = {}
  for key, (collection, path, kind, shape) in want.items():
    value = leaves(ours[collection])[path]
    tensors[key] = pretrained.to_torch(kind, path.rsplit('/', 1)[1], value)
    assert tensors[key].shape == shape
  loaded = read(name, write(tmp_path, tensors), shapes)
  for collection in ('params', 'batch_stats'):
    got, expected = leaves(loaded[collection]), leaves(ours.get(collection, {}))
    assert got.keys() == expected.keys()
    for path in got:
      np.testing.assert_array_equal(got[path], expected[path], err_msg=path)


def test_alexnet_fc6_reads_torchs_channel_major_flattening():
  """fc6's input row for (c, h, w) in torch is c*36 + h*6 + w; ours is
  (h*6 + w)*256 + c: one weight placed by hand lands where NHWC needs it."""
  w = np.zeros((4096, 256 * 36))
  c, h, x, out = 5, 2, 3, 7
  w[out, c * 36 + h * 6 + x] = 1.0
  ours = pretrained.to_ours('fc6', 'kernel', w)
  assert ours.shape == (9216, 4096)
  assert ours[(h * 6 + x) * 256 + c, out] == 1.0 and ours.sum() == 1.0


def test_refuses_a_missing_extra_misshapen_or_integer_tensor(tmp_path):
  _, shapes = variables_of('resnet18')
  good = random_checkpoint('resnet18', shapes)
  cases = {
      'missing': ({k: v for k, v in good.items() if k != 'layer2.1.bn1.running_var'},
                  'layer2.1.bn1.running_var (128) is missing in missing.safetensors'),
      'extra': ({**good, 'layer5.0.conv1.weight': np.zeros((1, 1, 3, 3))},
                'layer5.0.conv1.weight (1, 1, 3, 3) in extra.safetensors has no '
                'place in model resnet18'),
      'shape': ({**good, 'layer3.0.conv2.weight': np.zeros((256, 128, 3, 3))},
                'layer3.0.conv2.weight in shape.safetensors has shape '
                '(256, 128, 3, 3); model resnet18 needs (256, 256, 3, 3)'),
      'dtype': ({**good, 'fc.bias': np.zeros(1000, np.int64)},
                'fc.bias in dtype.safetensors has dtype int64'),
  }
  for case, (tensors, message) in cases.items():
    path = write(tmp_path, tensors, f'{case}.safetensors')
    with pytest.raises(errors.UserError) as e:
      read('resnet18', path, shapes)
    assert message in str(e.value), (case, str(e.value))
    assert '\n' not in str(e.value)


def test_refuses_files_it_cannot_read_in_one_line(tmp_path):
  _, shapes = variables_of('resnet18')
  garbage = tmp_path / 'garbage.safetensors'
  garbage.write_bytes(b'not a safetensors file at all')
  pth = tmp_path / 'resnet18.pth'
  pth.write_bytes(b'PK')
  cases = [(str(tmp_path / 'none.safetensors'), 'no such file'),
           (str(garbage), 'is not a readable .safetensors file')]
  if importlib.util.find_spec('torch') is None:
    cases.append((str(pth), 'reading a .pth needs torch (pip install torch'))
  for path, message in cases:
    with pytest.raises(errors.UserError) as e:
      read('resnet18', path, shapes)
    assert message in str(e.value) and '\n' not in str(e.value)
  with pytest.raises(errors.UserError, match="model 'lenet5' has no published"):
    pretrained.read(common.model('lenet5', init_from=str(garbage)), {}, print)
  good = write(tmp_path, random_checkpoint('resnet18', shapes))
  with pytest.raises(errors.UserError, match="'fc9' is no module of resnet18"):
    read('resnet18', good, shapes, exclude='fc9')


def test_another_class_count_leaves_the_head_at_init_and_says_so(tmp_path):
  _, imagenet = variables_of('resnet18')
  path = write(tmp_path, random_checkpoint('resnet18', imagenet))
  _, ten = variables_of('resnet18', classes=10)
  lines = []
  loaded = read('resnet18', path, ten, lines=lines)
  assert 'head' not in loaded['params'] and 'stem_conv' in loaded['params']
  assert any('fc.weight (1000, 512) not loaded: the model has 10 outputs'
             in line for line in lines), lines
  # init_exclude leaves out what it names, whatever the shapes.
  loaded = read('resnet18', path, imagenet, exclude='stage4_block2,head')
  assert 'stage4_block2' not in loaded['params']
  assert 'stage4_block2' not in loaded['batch_stats']
  assert 'stage4_block1' in loaded['params'] and 'head' not in loaded['params']


def test_grayscale_model_gets_the_rgb_stem_summed(tmp_path):
  _, rgb = variables_of('resnet18')
  tensors = random_checkpoint('resnet18', rgb)
  _, gray = variables_of('resnet18', classes=10, channels=1)
  lines = []
  loaded = read('resnet18', write(tmp_path, tensors), gray, lines=lines)
  np.testing.assert_allclose(
      loaded['params']['stem_conv']['kernel'],
      tensors['conv1.weight'].sum(1, keepdims=True).transpose(2, 3, 1, 0))
  assert any('summed over its 3 input channels' in l for l in lines)


def test_start_from_gives_every_stacked_seed_the_same_weights(tmp_path):
  from lib import optim  # pylint: disable=g-import-not-at-top
  small = dict(stage_sizes=(1, 1, 1, 1), width=8)  # ResNet-18's layers, fewer.
  model, _ = variables_of('resnet18', classes=10, **small)
  tensors = random_checkpoint('resnet18', variables_of('resnet18', **small)[1])
  config = common.base_config('digits')
  config.model = common.model('resnet18', init_from=write(tmp_path, tensors),
                              **small)
  tx = optim.build(config.optimizer, 10, 10)
  # One compiled init (unoptimized, as the trainer's), its seeds stacked.
  init = jax.jit(lambda seed: train_step.init_state(model, tx, (40, 40, 3), seed),
                 compiler_options={'xla_backend_optimization_level': 0})
  state = jax.tree.map(lambda *x: jnp.stack(x), *[init(s) for s in range(3)])
  started = pretrained.start_from(state, config, stacked=True, log=lambda _: None)
  kernel = started.params['stage1_block1']['a']['conv']['kernel']
  assert kernel.shape[0] == 3 and kernel.dtype == jnp.float32
  want = tensors['layer1.0.conv1.weight'].transpose(2, 3, 1, 0)
  assert want.shape == (3, 3, 8, 8)
  for seed in range(3):
    np.testing.assert_allclose(kernel[seed], want, rtol=1e-6)
    np.testing.assert_allclose(
        started.model_state['batch_stats']['stem_bn']['var'][seed],
        tensors['bn1.running_var'], rtol=1e-6)
  # The head of 10 classes is each seed's own init.
  heads = started.params['head']['kernel']
  assert not np.allclose(heads[0], heads[1])
  np.testing.assert_array_equal(heads, state.params['head']['kernel'])


# --- Against PyTorch's own models --------------------------------------------

def _torch_python() -> str | None:
  """A Python with torch and torchvision: this one, $TORCH_PYTHON, or the
  project's .venv-torch (tests/requirements-torch-reference.txt)."""
  for python in (os.environ.get('TORCH_PYTHON'),
                 os.path.join(ROOT, '.venv-torch', 'bin', 'python')):
    if python and os.path.exists(python):
      return python
  if importlib.util.find_spec('torchvision') is not None:
    return sys.executable
  return None


def _has_timm(python: str) -> bool:
  # Found, not imported: timm imports torchvision, which needs
  # torch_reference.py's stub beside the CPU torch.
  check = 'import importlib.util, sys; sys.exit(not importlib.util.find_spec("timm"))'
  return subprocess.run([python, '-c', check], capture_output=True,
                        timeout=120).returncode == 0


def compared_modules(name: str) -> dict[str, str]:
  """torch module -> our module whose output it must equal: the table's
  modules, and for ResNets every block (layerI.J -> stageI_blockJ+1)."""
  pairs = {t: ours for t, (ours, _) in pretrained.TABLES[name].items()}
  if name.startswith('resnet'):
    for t in list(pairs):
      parts = t.split('.')
      if parts[0].startswith('layer') and len(parts) > 2:
        pairs['.'.join(parts[:2])] = f'stage{parts[0][5:]}_block{int(parts[1]) + 1}'
  return pairs


def _ours_by_module(model, variables, images) -> dict[str, np.ndarray]:
  _, state = jax.jit(functools.partial(
      model.apply, train=False, capture_intermediates=True,
      mutable=['intermediates']))(variables, images)
  out = {}
  for path, value in jax.tree_util.tree_leaves_with_path(state['intermediates']):
    keys = [str(getattr(k, 'key', k)) for k in path]
    if keys[-2] == '__call__':
      out['/'.join(keys[:-2])] = np.asarray(value)
  return out


def _relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
  if theirs.ndim == 4:
    theirs = theirs.transpose(0, 2, 3, 1)  # NCHW -> NHWC.
  assert ours.shape == theirs.shape
  return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


@pytest.mark.slow  # ~3 min: 6 models, two dtypes, one torch process.
@pytest.mark.skipif(_torch_python() is None,
                    reason='needs a Python with torch and torchvision '
                    '(tests/requirements-torch-reference.txt)')
def test_forward_matches_pytorch_module_by_module(tmp_path):
  """Float64, eval mode, 2 images: every mapped module's output and every
  block's within 1e-12 of PyTorch's (relative to the output's largest
  value); our float32 forward pass within 1e-4 of it."""
  python = _torch_python()
  libraries = ['torchvision', 'timm'] if _has_timm(python) else ['torchvision']
  jobs, ours = [], {}
  rng = np.random.default_rng(0)
  for name in MODELS:
    with jax.enable_x64(True):
      model, shapes = variables_of(name, dtype=jnp.float64)
    tensors = random_checkpoint(name, shapes, seed=MODELS.index(name))
    weights = write(tmp_path, tensors, f'{name}.safetensors')
    size = SIZE.get(name, DEFAULT_SIZE)
    images = rng.uniform(0, 1, (2, size, size, 3))
    np.save(tmp_path / f'{name}.npy', images)
    ours[name] = (model, weights, images)
    for library in libraries:
      if library == 'timm' and name == 'alexnet':
        continue  # timm has no AlexNet.
      jobs.append({'model': name, 'library': library, 'weights': weights,
                   'images': str(tmp_path / f'{name}.npy'),
                   'modules': list(compared_modules(name)),
                   'out': str(tmp_path / f'{name}_{library}.npz')})
  spec = tmp_path / 'spec.json'
  spec.write_text(json.dumps(jobs))
  proc = subprocess.run([python, os.path.join(ROOT, 'tests', 'torch_reference.py'),
                         f'--spec={spec}'], capture_output=True, text=True,
                        timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]

  worst = {}
  for job in jobs:
    name = job['model']
    model, weights, images = ours[name]
    theirs = dict(np.load(job['out']))
    pairs = compared_modules(name)
    for dtype, tolerance in ((jnp.float64, 1e-12), (jnp.float32, 1e-4)):
      with jax.enable_x64(dtype == jnp.float64):
        model, shapes = variables_of(name, dtype=dtype)
        loaded = read(name, weights, shapes)
        variables = jax.tree.map(lambda a: jnp.asarray(a, dtype), loaded)
        if not variables['batch_stats']:
          del variables['batch_stats']
        got = _ours_by_module(model, variables, jnp.asarray(images, dtype))
      for torch_module, our_module in pairs.items():
        error = _relative_error(got[our_module], theirs[torch_module])
        where = (name, job['library'], torch_module, our_module, str(dtype))
        assert error < tolerance, (where, error)
        worst[dtype] = max(worst.get(dtype, 0.0), error)
      assert got[''].shape == theirs['output'].shape
      assert _relative_error(got[''], theirs['output']) < tolerance
  print(f'worst relative error over {len(jobs)} models: {worst}')


@pytest.mark.skipif(_torch_python() is None,
                    reason='needs a Python with torch and torchvision '
                    '(tests/requirements-torch-reference.txt)')
def test_images_are_cropped_as_torchvisions_evaluation_crops_them(tmp_path):
  """lib/imported.read_image against transforms.Resize(256) +
  CenterCrop(224) on the same files, landscape and portrait."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from lib import imported  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  jobs = []
  for i, shape in enumerate([(300, 451, 3), (517, 260, 3), (256, 256, 3)]):
    path = tmp_path / f'image{i}.png'
    Image.fromarray(rng.integers(0, 256, shape, np.uint8)).save(path)
    jobs.append({'image': str(path), 'out': str(tmp_path / f'crop{i}.npy')})
  spec = tmp_path / 'spec.json'
  spec.write_text(json.dumps(jobs))
  proc = subprocess.run([_torch_python(), os.path.join(
      ROOT, 'tests', 'torch_reference.py'), f'--spec={spec}'],
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  for job in jobs:
    theirs = np.load(job['out'])
    ours = imported.read_image(job['image'])
    assert ours.shape == theirs.shape == (224, 224, 3)
    np.testing.assert_array_equal(ours, theirs)
