"""PyTorch's side of tests/test_pretrained.py, run in the torch environment.

Not a test module: a script for a separate Python with torch (CPU) and
torchvision (and timm, where installed), which the project's environment
lacks on purpose (tests/requirements-torch-reference.txt says how to make
it). For each job of --spec (JSON: a list of {model, library, weights,
images, modules, out, pth}, or of {image, out}: torchvision's evaluation
transform of an image file, Resize(256) and CenterCrop(224)) it builds the library's own model, loads the
.safetensors file the test wrote with load_state_dict(strict=True) (so a
missing, extra or misshapen key of our mapping table fails here), runs it in
float64 and eval mode on the images (NHWC float64 .npy), and writes each
named module's output (NCHW as torch has it) to the job's .npz; `pth`, when
given, is where the loaded state_dict is also saved with torch.save.

torchvision's PyPI wheels are built against CUDA torch: its compiled ops
(detection's nms, roi_align, ...) cannot load beside the CPU torch, and
importing torchvision registers their meta kernels, which then fails. The
model code we compare needs none of them, so that one module is stubbed.
"""
import argparse
import json
import sys
import types

import numpy as np
import torch
from safetensors.torch import load_file

sys.modules['torchvision._meta_registrations'] = types.ModuleType(
    'torchvision._meta_registrations')
import torchvision  # pylint: disable=g-import-not-at-top,wrong-import-position


def build(model: str, library: str) -> torch.nn.Module:
  if library == 'torchvision':
    return getattr(torchvision.models, model)(weights=None)
  if library == 'timm':
    import timm  # pylint: disable=g-import-not-at-top
    return timm.create_model(model, pretrained=False)
  raise SystemExit(f'unknown library {library!r}')


def transform(job: dict) -> dict:
  """torchvision's ImageNet evaluation transform of one image file."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from torchvision import transforms  # pylint: disable=g-import-not-at-top
  pipeline = transforms.Compose([transforms.Resize(256),
                                 transforms.CenterCrop(224)])
  with Image.open(job['image']) as image:
    np.save(job['out'], np.asarray(pipeline(image.convert('RGB'))))
  return {'transform': job['image']}


def run(job: dict) -> dict:
  if 'image' in job:
    return transform(job)
  net = build(job['model'], job['library']).double().eval()
  state = {k: v.double() for k, v in load_file(job['weights']).items()}
  own = net.state_dict()
  # torchvision's BatchNorm keeps a step counter that the importer ignores;
  # the test's file leaves it out, so it is kept at the model's own value.
  for key, value in own.items():
    if key.endswith('num_batches_tracked'):
      state[key] = value
  net.load_state_dict(state, strict=True)
  outputs, handles = {}, []
  modules = dict(net.named_modules())
  for name in job['modules']:
    def hook(_, __, out, name=name):  # A copy: the ReLUs are in place.
      outputs[name] = out.detach().clone().numpy()
    handles.append(modules[name].register_forward_hook(hook))
  images = torch.from_numpy(np.load(job['images'])).permute(0, 3, 1, 2)
  with torch.no_grad():
    outputs['output'] = net(images.contiguous()).numpy()
  np.savez(job['out'], **outputs)
  if job.get('pth'):
    torch.save(net.state_dict(), job['pth'])
  return {'model': job['model'], 'library': job['library'],
          'keys': len(own), 'torch': torch.__version__,
          'torchvision': torchvision.__version__}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--spec', required=True)
  args = parser.parse_args()
  torch.set_num_threads(1)
  done = [run(job) for job in json.load(open(args.spec))]
  print(json.dumps(done))


if __name__ == '__main__':
  main()
