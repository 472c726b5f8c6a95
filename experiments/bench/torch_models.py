"""The benchmark's models in plain PyTorch, and their train step.

Layer for layer the networks of experiments/bench/cases.py (lib.models), as
a PyTorch user would write them: NCHW tensors, torch.nn layers, the default
(mkldnn/oneDNN on CPU) kernels, `torch.optim.SGD(momentum=0.9)`. The step
takes the same uint8 batch as ours and scales it to [0, 1] inside, computes
softmax cross-entropy, backpropagates and updates. Only the benchmark
imports this module, and only when torch is installed
(experiments/bench/requirements.txt).
"""
import dataclasses
from typing import Callable

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from experiments.bench import cases


# True: the CNN max-pools before its ReLU, the order lib/cpu_gradients'
# pool_first gives our ConvBlock in a CPU train step (bench
# --torch_pool_first), to see what that order gives PyTorch.
POOL_FIRST = False


class CNN(nn.Module):
  """conv32-pool-conv64-pool-dense256-dense10 (the 'cnn' case)."""

  def __init__(self, num_classes: int, channels: int = 1, size: int = 28):
    super().__init__()
    self.conv0 = nn.Conv2d(channels, 32, 3, padding=1)
    self.conv1 = nn.Conv2d(32, 64, 3, padding=1)
    self.dense = nn.Linear(64 * (size // 4) ** 2, 256)
    self.head = nn.Linear(256, num_classes)

  def forward(self, x):
    for conv in (self.conv0, self.conv1):
      if POOL_FIRST:  # Our pool_first order, by hand (same values).
        x = F.relu(F.max_pool2d(conv(x), 2))
      else:
        x = F.max_pool2d(F.relu(conv(x)), 2)
    return self.head(F.relu(self.dense(x.flatten(1))))


class LeNet5(nn.Module):
  """tanh, mean pooling, 28x28 zero-padded to 32x32 (lib/models/lenet.py)."""

  def __init__(self, num_classes: int):
    super().__init__()
    self.c1, self.c3 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
    self.c5 = nn.Conv2d(16, 120, 5)
    self.f6, self.output = nn.Linear(120, 84), nn.Linear(84, num_classes)

  def forward(self, x):
    pad = max(32 - x.shape[-1], 0)
    x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
    x = F.avg_pool2d(torch.tanh(self.c1(x)), 2)
    x = F.avg_pool2d(torch.tanh(self.c3(x)), 2)
    x = torch.tanh(self.c5(x)).flatten(1)
    return self.output(torch.tanh(self.f6(x)))


class _CifarBlock(nn.Module):
  """Basic block with the option-A (subsample + zero channels) shortcut."""

  def __init__(self, cin: int, cout: int, stride: int):
    super().__init__()
    self.a = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    self.bn_a = nn.BatchNorm2d(cout)
    self.b = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
    self.bn_b = nn.BatchNorm2d(cout)
    self.stride, self.extra = stride, cout - cin

  def forward(self, x):
    y = F.relu(self.bn_a(self.a(x)))
    y = self.bn_b(self.b(y))
    if self.stride != 1 or self.extra:
      x = x[:, :, ::self.stride, ::self.stride]
      x = F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
    return F.relu(y + x)


class CifarResNet(nn.Module):
  """ResNet-6n+2 of He et al. section 4.2 (lib/models/resnet.py)."""

  def __init__(self, num_classes: int, n: int = 3):
    super().__init__()
    self.stem, self.bn = nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
    blocks, cin = [], 16
    for i, width in enumerate((16, 32, 64)):
      for j in range(n):
        blocks.append(_CifarBlock(cin, width, 2 if i > 0 and j == 0 else 1))
        cin = width
    self.blocks = nn.Sequential(*blocks)
    self.head = nn.Linear(64, num_classes)

  def forward(self, x):
    x = self.blocks(F.relu(self.bn(self.stem(x))))
    return self.head(x.mean((2, 3)))


class AlexNet(nn.Module):
  """torchvision.models.alexnet, written out (torchvision is not needed)."""

  def __init__(self, num_classes: int, dropout: float = 0.5):
    super().__init__()
    self.features = nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2))
    self.pool = nn.AdaptiveAvgPool2d((6, 6))
    self.classifier = nn.Sequential(
        nn.Dropout(dropout), nn.Linear(256 * 36, 4096), nn.ReLU(inplace=True),
        nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes))

  def forward(self, x):
    return self.classifier(self.pool(self.features(x)).flatten(1))


class _Bottleneck(nn.Module):
  """torchvision's v1.5 bottleneck: the stride is on the 3x3 conv."""

  def __init__(self, cin: int, width: int, stride: int):
    super().__init__()
    cout = 4 * width
    self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
    self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(width)
    self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
    self.down = None
    if stride != 1 or cin != cout:
      self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                nn.BatchNorm2d(cout))

  def forward(self, x):
    y = F.relu(self.bn1(self.conv1(x)))
    y = F.relu(self.bn2(self.conv2(y)))
    y = self.bn3(self.conv3(y))
    return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet50(nn.Module):
  """torchvision.models.resnet50, written out."""

  def __init__(self, num_classes: int):
    super().__init__()
    self.stem = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
    self.bn = nn.BatchNorm2d(64)
    blocks, cin = [], 64
    for i, n in enumerate((3, 4, 6, 3)):
      for j in range(n):
        width = 64 * 2 ** i
        blocks.append(_Bottleneck(cin, width, 2 if i > 0 and j == 0 else 1))
        cin = 4 * width
    self.blocks = nn.Sequential(*blocks)
    self.head = nn.Linear(2048, num_classes)

  def forward(self, x):
    x = F.max_pool2d(F.relu(self.bn(self.stem(x))), 3, 2, 1)
    return self.head(self.blocks(x).mean((2, 3)))


def build_model(case: cases.Case) -> nn.Module:
  h, w, c = case.image_shape
  k = case.num_classes
  if case.name == 'logreg':
    return nn.Sequential(nn.Flatten(), nn.Linear(h * w * c, k))
  if case.name == 'mlp':
    width = case.model['width']
    layers, fan_in = [nn.Flatten()], h * w * c
    for _ in range(case.model['depth']):
      layers += [nn.Linear(fan_in, width), nn.ReLU()]
      fan_in = width
    return nn.Sequential(*layers, nn.Linear(fan_in, k))
  if case.name == 'cnn':
    return CNN(k, c, h)
  if case.name == 'lenet5':
    return LeNet5(k)
  if case.name == 'resnet20':
    return CifarResNet(k, n=3)
  if case.name == 'alexnet':
    return AlexNet(k)
  if case.name == 'resnet50':
    return ResNet50(k)
  raise KeyError(f'no PyTorch model for case {case.name!r}')


@dataclasses.dataclass
class TorchStep:
  run: Callable[[int], None]
  params: int


def build(case: cases.Case, batch_size: int, images: np.ndarray,
          labels: np.ndarray) -> TorchStep:
  """Our synthetic NHWC uint8 batch, as NCHW, and a train step on it."""
  torch.manual_seed(0)
  model = build_model(case).train()
  opt = torch.optim.SGD(model.parameters(), lr=cases.LEARNING_RATE,
                        momentum=cases.MOMENTUM)
  x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
  y = torch.from_numpy(labels.astype(np.int64))
  assert x.shape[0] == batch_size

  def step():
    opt.zero_grad(set_to_none=True)
    logits = model(x.float() * (1.0 / 255.0))
    F.cross_entropy(logits, y).backward()
    opt.step()

  def run(k: int) -> None:
    for _ in range(k):
      step()

  return TorchStep(run, sum(p.numel() for p in model.parameters()))


def matmul_peak(n: int = 2048, repeats: int = 10) -> dict:
  """torch's float32 n x n matrix-product rate, as lib.flops.matmul_peak."""
  import time  # pylint: disable=g-import-not-at-top
  a, b = torch.randn(n, n), torch.randn(n, n)
  a @ b
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    a @ b
    times.append(time.perf_counter() - start)
  flops = 2.0 * n ** 3
  return {'n': n, 'flops_per_s_best': flops / min(times),
          'flops_per_s_median': flops / float(np.median(times))}


def threads() -> dict:
  return {'intra_op': torch.get_num_threads(),
          'inter_op': torch.get_num_interop_threads(),
          'version': torch.__version__,
          'mkldnn': torch.backends.mkldnn.is_available(),
          'pool_first': POOL_FIRST}
