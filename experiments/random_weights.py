r"""An untrained torchvision checkpoint, without torch: a stand-in for a file.

  python -m experiments.random_weights --model=resnet18 --out=resnet18_untrained.safetensors

Writes a .safetensors file with torchvision's key names and shapes for a zoo
model (lib/pretrained.TABLES) and torchvision's own initialization, as
`torchvision.models.resnet18()` has it before training: convs
kaiming_normal_(mode='fan_out', nonlinearity='relu') (AlexNet's convs and
every linear layer: PyTorch's default, uniform in +-1/sqrt(fan_in)),
BatchNorm weight 1, bias 0, running mean 0, variance 1. It is what
model.init_from reads when no published weights can be downloaded (this
machine): a run that starts from it measures the pipeline and the random-
features baseline that real ImageNet weights should beat.
"""
from absl import flags

from experiments import cli

_MODEL = flags.DEFINE_string('model', 'resnet18', 'The zoo model.')
_OUT = flags.DEFINE_string('out', None, 'The .safetensors file to write.')
_SEED = flags.DEFINE_integer('seed', 0, 'The random seed.')
flags.mark_flags_as_required(['out'])


def untrained(name: str, seed: int = 0) -> dict:
  """torch key -> float32 array, torchvision's initialization."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from configs import common  # pylint: disable=g-import-not-at-top
  from lib import errors, models, pretrained  # pylint: disable=g-import-not-at-top
  if name not in pretrained.TABLES:
    raise errors.unknown_name('model', name, pretrained.TABLES)
  model = models.build(common.model(name), 1000)
  shapes = jax.eval_shape(lambda: model.init(
      jax.random.PRNGKey(0), jnp.zeros((1, 224, 224, 3)), train=False))
  rng = np.random.default_rng(seed)
  out = {}
  for key, (_, _, kind, shape) in pretrained.expected_tensors(name, shapes).items():
    suffix = key.rsplit('.', 1)[1]
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 0
    if kind == 'bn':
      value = np.full(shape, 1.0 if suffix in ('weight', 'running_var') else 0.0)
    elif kind == 'conv' and suffix == 'weight' and name.startswith('resnet'):
      fan_out = shape[0] * int(np.prod(shape[2:]))
      value = rng.normal(0.0, np.sqrt(2.0 / fan_out), shape)
    else:  # PyTorch's default for conv and linear weights and biases.
      bound = 1.0 / np.sqrt(fan_in or _fan_in_of_bias(key, shapes, name))
      value = rng.uniform(-bound, bound, shape)
    out[key] = value.astype(np.float32)
  return out


def _fan_in_of_bias(key: str, shapes, name: str) -> int:
  """A bias takes the bound of its layer's weight."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from lib import pretrained  # pylint: disable=g-import-not-at-top
  weight = pretrained.expected_tensors(name, shapes)[
      key.rsplit('.', 1)[0] + '.weight'][3]
  return int(np.prod(weight[1:]))


def main(argv):
  del argv
  import os  # pylint: disable=g-import-not-at-top
  from safetensors import numpy as st  # pylint: disable=g-import-not-at-top
  from lib import atomic  # pylint: disable=g-import-not-at-top
  tensors = untrained(_MODEL.value, _SEED.value)
  with atomic.replacing(_OUT.value, 'wb') as f:
    f.write(st.save(tensors))
  size = sum(v.size for v in tensors.values())
  print(f'{_OUT.value}: untrained {_MODEL.value}, {len(tensors)} tensors, '
        f'{size:,} values ({os.path.getsize(_OUT.value) / 2**20:.1f} MiB)')


if __name__ == '__main__':
  cli.run(main)
