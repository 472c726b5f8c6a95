r"""A whole digits study in plain PyTorch: the other side of studies.py.

  python experiments/bench/torch_study.py --spec=SPEC.json --out=RESULTS.json

Runs in its own Python (the bench environment of requirements.txt, no jax),
so start-up counts as it does for ours. SPEC.json (written by studies.py from
our config) names the split (an .npz of uint8 images and int32 labels, the
same stratified 80/20 split ours reads), the seeds, and the run: the CNN of
lib/models/cnn.py (conv-relu per layer, max pool closing each block, dense
layers with dropout, a linear head; 'SAME' padding), Flax's initializers
(LeCun-normal kernels, zero biases), Adam with optax's defaults and a cosine
decay over all steps, +-N pixel random shifts with zero fill, batches drawn
from a fresh permutation every epoch (the remainder dropped), the test split
evaluated once per epoch and at the end, and the final weights saved. Each
seed trains one after another in this process, as ours do. Denormals are
flushed to zero, as XLA:CPU does.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


def lecun_normal_(weight: torch.Tensor) -> None:
  """Flax's default kernel init: truncated normal, variance 1 / fan_in."""
  fan_in = weight[0].numel()
  std = math.sqrt(1.0 / fan_in) / 0.87962566103423978  # Truncation at 2 std.
  nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


class CNN(nn.Module):
  """lib/models/cnn.py with dropout_placement='dense', in NCHW."""

  def __init__(self, spec: dict, channels: int, size: int, classes: int):
    super().__init__()
    k = spec['kernel_size']
    self.blocks = nn.ModuleList()
    for features in spec['features']:
      convs = []
      for _ in range(spec['convs_per_block']):
        convs.append(nn.Conv2d(channels, features, k, padding=k // 2))
        channels = features
      self.blocks.append(nn.ModuleList(convs))
      size = size // 2  # 2x2 max pool, stride 2 ('SAME' pooling floors too).
    self.dense = nn.ModuleList()
    width = channels * size * size
    for units in spec['dense']:
      self.dense.append(nn.Linear(width, units))
      width = units
    self.head = nn.Linear(width, classes)
    self.dropout = spec['dropout']
    for m in self.modules():
      if isinstance(m, (nn.Conv2d, nn.Linear)):
        lecun_normal_(m.weight)
        nn.init.zeros_(m.bias)

  def forward(self, x):
    for convs in self.blocks:
      for conv in convs:
        x = F.relu(conv(x))
      x = F.max_pool2d(x, 2)
    x = x.flatten(1)
    for dense in self.dense:
      x = F.dropout(F.relu(dense(x)), self.dropout, self.training)
    return self.head(x)


def random_shift(images: torch.Tensor, max_shift: int,
                 generator: torch.Generator) -> torch.Tensor:
  """Each NCHW image moved by up to max_shift pixels, zeros filled in."""
  if max_shift <= 0:
    return images
  n, _, h, w = images.shape
  padded = F.pad(images, (max_shift,) * 4)
  offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
  rows = (offsets[:, 0, None] + torch.arange(h))[:, None, :, None]
  cols = (offsets[:, 1, None] + torch.arange(w))[:, None, None, :]
  batch = torch.arange(n)[:, None, None, None]
  chans = torch.arange(images.shape[1])[None, :, None, None]
  return padded[batch, chans, rows, cols]


def to_tensor(images: np.ndarray) -> torch.Tensor:
  """uint8 NHWC -> float32 NCHW in [0, 1], as ours scales inside its step."""
  return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             batch_size: int) -> tuple[float, float]:
  model.eval()
  loss, correct = 0.0, 0
  for lo in range(0, len(labels), batch_size):
    logits = model(images[lo:lo + batch_size])
    y = labels[lo:lo + batch_size]
    loss += F.cross_entropy(logits, y, reduction='sum').item()
    correct += (logits.argmax(1) == y).sum().item()
  model.train()
  return loss / len(labels), correct / len(labels)


def train_seed(spec: dict, data: dict, seed: int, out_dir: str) -> dict:
  torch.manual_seed(seed)
  generator = torch.Generator().manual_seed(seed)
  train_x, train_y = data['train_x'], data['train_y']
  test_x, test_y = data['test_x'], data['test_y']
  n, batch = len(train_y), spec['batch_size']
  steps_per_epoch = n // batch
  total = math.ceil(spec['num_epochs'] * steps_per_epoch)
  _, c, h, _ = train_x.shape
  model = CNN(spec['model'], c, h, spec['num_classes'])
  opt = torch.optim.Adam(model.parameters(), lr=spec['learning_rate'])
  cosine = lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
  sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine)
  model.train()
  t0, step, best = time.time(), 0, 0.0
  while step < total:
    order = torch.randperm(n, generator=generator)
    for i in range(steps_per_epoch):
      if step == total:
        break
      idx = order[i * batch:(i + 1) * batch]
      x = random_shift(train_x[idx], spec['random_shift'], generator)
      loss = F.cross_entropy(model(x), train_y[idx])
      opt.zero_grad(set_to_none=True)
      loss.backward()
      opt.step()
      sched.step()
      step += 1
    best = max(best, evaluate(model, test_x, test_y, batch)[1])
  loss, accuracy = evaluate(model, test_x, test_y, batch)
  os.makedirs(out_dir, exist_ok=True)
  torch.save(model.state_dict(), os.path.join(out_dir, f'seed_{seed}.pt'))
  return {'seed': seed, 'steps': total, 'test_accuracy': accuracy,
          'test_loss': loss, 'best_accuracy': max(best, accuracy),
          'train_seconds': time.time() - t0,
          'params': sum(p.numel() for p in model.parameters())}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--spec', required=True)
  parser.add_argument('--out', required=True)
  parser.add_argument('--threads', type=int, default=0,
                      help="intra-op threads (0: PyTorch's default)")
  args = parser.parse_args()
  with open(args.spec) as f:
    spec = json.load(f)
  spec['threads'] = args.threads
  # XLA:CPU computes with denormals flushed to zero; so does this side. Without
  # it some seeds' weights drift into denormals and a seed takes 1.4-16 s
  # instead of 1.4 s on a 2-core Xeon (measured 2026-12-01). Set before the
  # thread pool starts: its threads inherit the setting from this one.
  torch.set_flush_denormal(True)
  if spec.get('threads'):  # Else PyTorch's default (one per physical core).
    torch.set_num_threads(spec['threads'])
  arrays = np.load(spec['data'])
  data = {'train_x': to_tensor(arrays['train_image']),
          'train_y': torch.from_numpy(arrays['train_label']).long(),
          'test_x': to_tensor(arrays['test_image']),
          'test_y': torch.from_numpy(arrays['test_label']).long()}
  out_dir = os.path.dirname(os.path.abspath(args.out))
  results = [train_seed(spec, data, s, out_dir) for s in spec['seeds']]
  with open(args.out, 'w') as f:
    json.dump({'torch': torch.__version__, 'threads': torch.get_num_threads(),
               'params': results[0]['params'], 'results': results}, f, indent=2)
  accs = ', '.join(f"{100 * r['test_accuracy']:.2f}" for r in results)
  print(f'test accuracy per seed: {accs}')


if __name__ == '__main__':
  main()
