"""Pretrained weights from torchvision and timm, into our Flax models.

`model.init_from = PATH` starts a run from a checkpoint of the published
counterpart of a zoo model (alexnet, resnet18/34/50/101/152): `.safetensors`
(read with the `safetensors` package, no torch) or torchvision's `.pth` (read
with torch where it is installed). `read` maps and checks every tensor before
anything is written; `load_into` puts the result into a fresh train state.

One mapping table per family, torch module -> (our module, kind), and the
tests build their checkpoints from the same tables. timm's ResNets use
torchvision's names, so one table serves both. A kind says how the layouts
differ:
  conv     weight O,I,kH,kW -> kernel kH,kW,I,O; bias as is.
  linear   weight out,in -> kernel in,out; bias as is.
  fc6      AlexNet's first linear layer: torch flattens the 256x6x6 map as
           (C, H, W), we flatten NHWC as (H, W, C), so its input rows are
           permuted too.
  bn       weight -> scale, bias -> bias (params); running_mean -> mean,
           running_var -> var (batch_stats); num_batches_tracked is unused.

Where the model's first conv sees 1 channel and the file's 3 (a grayscale
dataset), its kernel is the sum over RGB, as timm's adapt_input_conv does.
The head is left at its init when its shape differs (another class count) or
when `model.init_exclude` names it; both are said on the console.
"""
import os
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lib import errors
from lib.models import resnet

ALEXNET = {  # torchvision.models.alexnet; timm has none.
    'features.0': ('conv1', 'conv'),
    'features.3': ('conv2', 'conv'),
    'features.6': ('conv3', 'conv'),
    'features.8': ('conv4', 'conv'),
    'features.10': ('conv5', 'conv'),
    'classifier.1': ('fc6', 'fc6'),
    'classifier.4': ('fc7', 'linear'),
    'classifier.6': ('fc8', 'linear'),
}


def resnet_table(block: str, stage_sizes) -> dict[str, tuple[str, str]]:
  """torchvision's (and timm's) ResNet names -> ours (lib/models/resnet.py)."""
  t = {'conv1': ('stem_conv', 'conv'), 'bn1': ('stem_bn', 'bn')}
  letters = 'abc' if block == 'bottleneck' else 'ab'
  for i, n in enumerate(stage_sizes, 1):
    for j in range(n):
      ours = f'stage{i}_block{j + 1}'
      for k, letter in enumerate(letters, 1):
        t[f'layer{i}.{j}.conv{k}'] = (f'{ours}/{letter}/conv', 'conv')
        t[f'layer{i}.{j}.bn{k}'] = (f'{ours}/{letter}/bn', 'bn')
      if j == 0 and (i > 1 or block == 'bottleneck'):  # Shape changes here.
        t[f'layer{i}.0.downsample.0'] = (f'{ours}/shortcut/conv', 'conv')
        t[f'layer{i}.0.downsample.1'] = (f'{ours}/shortcut/bn', 'bn')
  t['fc'] = ('head', 'linear')
  return t


TABLES = {
    'alexnet': ALEXNET,
    **{f'resnet{d}': resnet_table(block, stages)
       for d, (block, stages) in resnet.IMAGENET_DEPTHS.items()},
}
HEADS = {name: table[next(reversed(table))][0] for name, table in TABLES.items()}
FIRST_CONVS = {name: table[next(iter(table))][0] for name, table in TABLES.items()}

# Our leaf -> (collection, torch tensor suffix), per kind.
_LEAVES = {
    'conv': (('params', 'kernel', 'weight'), ('params', 'bias', 'bias')),
    'linear': (('params', 'kernel', 'weight'), ('params', 'bias', 'bias')),
    'bn': (('params', 'scale', 'weight'), ('params', 'bias', 'bias'),
           ('batch_stats', 'mean', 'running_mean'),
           ('batch_stats', 'var', 'running_var')),
}
_LEAVES['fc6'] = _LEAVES['linear']
_UNUSED_SUFFIXES = ('num_batches_tracked',)  # BatchNorm's step counter.
_FLOAT_DTYPES = (np.float16, np.float32, np.float64)


def to_ours(kind: str, leaf: str, w: np.ndarray) -> np.ndarray:
  """A torch tensor in our layout (module docstring)."""
  if leaf != 'kernel':
    return w
  if kind == 'conv':
    return w.transpose(2, 3, 1, 0)
  if kind == 'fc6':  # out, (C, H, W) -> (H, W, C), out.
    c = 256
    side = int(round((w.shape[1] // c) ** 0.5)) if w.shape[1] % c == 0 else 0
    if side * side * c != w.shape[1]:
      return w.T  # Not AlexNet's map: the shape check names it.
    return w.reshape(w.shape[0], c, side, side).transpose(2, 3, 1, 0).reshape(
        -1, w.shape[0])
  return w.T


def to_torch(kind: str, leaf: str, x: np.ndarray) -> np.ndarray:
  """Our array in torch's layout: to_ours's inverse (tests, torch shapes)."""
  if leaf != 'kernel':
    return x
  if kind == 'conv':
    return x.transpose(3, 2, 0, 1)
  if kind == 'fc6':
    c, side = 256, int(round((x.shape[0] // 256) ** 0.5))
    return x.reshape(side, side, c, -1).transpose(3, 2, 0, 1).reshape(
        x.shape[1], -1)
  return x.T


def expected_tensors(model_name: str, variables) -> dict[str, tuple]:
  """torch key -> (collection, our path, kind, torch-layout shape): what a
  checkpoint for our model `variables` (arrays or shape structs) holds."""
  out = {}
  for torch_module, (ours, kind) in TABLES[model_name].items():
    for collection, leaf, suffix in _LEAVES[kind]:
      node = variables.get(collection, {})
      for part in (*ours.split('/'), leaf):
        node = node.get(part) if isinstance(node, dict) else None
      if node is None:
        continue  # e.g. a conv without bias.
      shape = to_torch(kind, leaf, np.empty(node.shape, np.int8)).shape
      out[f'{torch_module}.{suffix}'] = (collection, f'{ours}/{leaf}', kind, shape)
  return out


def _shape(shape) -> str:
  return '(' + ', '.join(str(d) for d in shape) + ')'


def _open(path: str) -> dict[str, np.ndarray]:
  """The checkpoint's tensors as numpy arrays, by torch key."""
  if not os.path.isfile(path):
    raise errors.UserError(
        f'model.init_from={path!r}: no such file; give a .safetensors or '
        "torchvision .pth file (README, 'Pretrained weights')")
  if path.endswith('.safetensors'):
    from safetensors import numpy as st  # pylint: disable=g-import-not-at-top
    try:
      return dict(st.load_file(path))
    except Exception as e:  # pylint: disable=broad-except
      raise errors.UserError(
          f'model.init_from={path!r} is not a readable .safetensors file '
          f'({str(e).splitlines()[0] if str(e) else type(e).__name__})') from e
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise errors.UserError(
        f'model.init_from={path!r}: reading a .pth needs torch (pip install '
        'torch, CPU build), or use the .safetensors file of the same weights '
        "(timm's on the Hugging Face hub; or convert once where torch is: "
        'safetensors.torch.save_file(torch.load(PATH), OUT))') from e
  try:
    obj = torch.load(path, map_location='cpu', weights_only=True)
  except Exception as e:  # pylint: disable=broad-except
    raise errors.UserError(
        f'model.init_from={path!r} is not a readable torch checkpoint '
        f'({str(e).splitlines()[0] if str(e) else type(e).__name__})') from e
  for wrapper in ('state_dict', 'model'):  # Training scripts' checkpoints.
    if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
      obj = obj[wrapper]
  if not isinstance(obj, dict):
    raise errors.UserError(
        f'model.init_from={path!r} holds a {type(obj).__name__}, not a '
        'state_dict; save model.state_dict() instead')
  return {k: v.detach().cpu().numpy() for k, v in obj.items()
          if hasattr(v, 'detach')}


def keys_of(path: str) -> set[str]:
  """The checkpoint's torch keys (a .safetensors file's without reading
  its tensors)."""
  if path.endswith('.safetensors') and os.path.isfile(path):
    from safetensors import safe_open  # pylint: disable=g-import-not-at-top
    try:
      with safe_open(path, 'numpy') as f:
        return set(_strip_prefix(dict.fromkeys(f.keys())))
    except Exception:  # pylint: disable=broad-except
      pass  # _open says what is wrong in one line.
  return set(_strip_prefix(_open(path)))


def _strip_prefix(tensors: dict) -> dict:
  """nn.DataParallel's 'module.' prefix, as torch users meet it."""
  if tensors and all(k.startswith('module.') for k in tensors):
    return {k[len('module.'):]: v for k, v in tensors.items()}
  return tensors


def excluded_modules(model_config: ml_collections.ConfigDict) -> list[str]:
  text = model_config.get('init_exclude', '') or ''
  names = text.split(',') if isinstance(text, str) else list(text)
  return [n.strip() for n in names if n.strip()]


def read(model_config: ml_collections.ConfigDict, variables,
         log: Callable[[str], None] = print) -> dict | None:
  """{'params': ..., 'batch_stats': ...} of numpy arrays in our layout, for
  the modules loaded, from model_config.init_from; None without one.

  `variables` is the model's own tree (arrays or jax.ShapeDtypeStruct, one
  seed's). A missing, extra, misshapen or non-float tensor, a model without a
  table, or an excluded name that is no module is a UserError naming it.
  """
  path = model_config.get('init_from', '')
  if not path:
    return None
  name = model_config.name
  if name not in TABLES:
    raise errors.UserError(
        f'model.init_from: model {name!r} has no published counterpart to '
        f"import; models with one: {', '.join(sorted(TABLES))}")
  tensors = _strip_prefix(_open(path))
  want = expected_tensors(name, variables)
  excluded = excluded_modules(model_config)
  parts = [ours.split('/') for ours, _ in TABLES[name].values()]
  modules = {'/'.join(p[:i]) for p in parts for i in range(1, len(p) + 1)}
  for module in excluded:
    if module not in modules:
      top = sorted({p[0] for p in parts})
      raise errors.UserError(
          f'model.init_exclude: {module!r} is no module of {name}; its '
          f"modules: {', '.join(top)} (and their parts, as 'stage1_block1/a')")
  where = f'in {os.path.basename(path)}'

  # The head of another class count: left at init, said on the console.
  head = HEADS[name]
  head_key = next(k for k, v in want.items() if v[1] == f'{head}/kernel')
  if (head not in excluded and head_key in tensors
      and tensors[head_key].shape != want[head_key][3]):
    excluded.append(head)
    log(f'pretrained: {head_key} {_shape(tensors[head_key].shape)} not '
        f'loaded: the model has {want[head_key][3][0]} outputs; {head!r} '
        'starts from its init (model.init_exclude chooses what is left out)')
  elif head in excluded:
    log(f"pretrained: {', '.join(excluded)} start from init "
        '(model.init_exclude)')
  skip = lambda ours_path: ours_path.split('/')[0] in excluded or any(
      ours_path.startswith(e + '/') for e in excluded)

  out = {'params': {}, 'batch_stats': {}}
  for key, (collection, ours_path, kind, shape) in want.items():
    if skip(ours_path):
      continue
    if key not in tensors:
      raise errors.UserError(
          f'{key} {_shape(shape)} is missing {where}; model {name} needs it '
          f'(our {ours_path}); is the file a {name} checkpoint? '
          '(model.init_exclude=MODULE leaves a module at its init)')
    w = tensors[key]
    if w.dtype.type not in _FLOAT_DTYPES:
      raise errors.UserError(
          f'{key} {where} has dtype {w.dtype}; model {name} needs a float '
          f'tensor of shape {_shape(shape)}')
    first = ours_path.rsplit('/', 1)[0] == FIRST_CONVS[name]
    if (first and ours_path.endswith('kernel') and len(shape) == 4
        and shape[1] == 1 and w.shape[1] == 3 and w.shape[0] == shape[0]
        and w.shape[2:] == shape[2:]):
      w = w.sum(axis=1, keepdims=True)  # timm's adapt_input_conv.
      log(f'pretrained: {key} {_shape(tensors[key].shape)} summed over its 3 '
          'input channels for the 1-channel images (as timm does)')
    if w.shape != shape:
      raise errors.UserError(
          f'{key} {where} has shape {_shape(w.shape)}; model {name} needs '
          f'{_shape(shape)} (our {ours_path}); check the model and its '
          'settings, or leave the module out with model.init_exclude')
    node = out[collection]
    *parents, leaf = ours_path.split('/')
    for part in parents:
      node = node.setdefault(part, {})
    node[leaf] = np.asarray(to_ours(kind, leaf.split('/')[-1], w), np.float32
                            if w.dtype != np.float64 else np.float64)
  used = {k for k, v in want.items()} | {
      k for k in tensors if k.rsplit('.', 1)[-1] in _UNUSED_SUFFIXES}
  extra = [k for k in tensors if k not in used]
  if extra:
    k = extra[0]
    raise errors.UserError(
        f'{k} {_shape(tensors[k].shape)} {where} has no place in model {name}'
        f'{f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""}; is the '
        f'file a {name} checkpoint?')
  count = sum(int(np.prod(v.shape)) for v in jax.tree.leaves(out))
  log(f'pretrained: {count:,} values from {path} ({len(want)} tensors'
      f'{f", {len(excluded)} module(s) at init" if excluded else ""})')
  return out


def _merge(tree, loaded, stacked: bool):
  """`tree` with the leaves `loaded` has, in tree's dtype, on every seed."""
  if not loaded:
    return tree
  merged = dict(tree)
  for k, v in loaded.items():
    if isinstance(v, dict):
      merged[k] = _merge(tree[k], v, stacked)
    else:
      old = tree[k]
      new = jnp.asarray(v, old.dtype)
      if stacked:  # Every seed starts from the same weights.
        new = jnp.broadcast_to(new, old.shape)
      merged[k] = jax.device_put(new, getattr(old, 'sharding', None))
  return merged


def load_into(state, loaded: dict | None, stacked: bool = False):
  """A train state (lib/train_step.TrainState, fresh from init) with
  `read`'s arrays in place; `stacked` states get them on every seed."""
  if loaded is None:
    return state
  params = _merge(state.params, loaded['params'], stacked)
  model_state = dict(state.model_state)
  if loaded['batch_stats']:
    model_state['batch_stats'] = _merge(model_state['batch_stats'],
                                        loaded['batch_stats'], stacked)
  state = state.replace(params=params, model_state=model_state)
  if getattr(state, 'ema', None) is not None:  # The average starts there too.
    state = state.replace(ema={'params': params, 'model_state': model_state})
  return state


def start_from(state, config: ml_collections.ConfigDict, stacked: bool = False,
               log: Callable[[str], None] = print):
  """The one-line hook: `state` from config.model.init_from, if set."""
  unstack = (lambda x: x[0]) if stacked else (lambda x: x)
  variables = {'params': jax.tree.map(unstack, state.params),
               **jax.tree.map(unstack, dict(state.model_state))}
  return load_into(state, read(config.model, variables, log), stacked)
