"""ResNet-18 from a torchvision/timm checkpoint on the 5,000 embedded MNIST
digits (lib/data/mnist_5k.py): fine-tuning, or with `:probe` a linear probe.

The transfer recipes of configs/cifar10_resnet18_transfer.py at a size that
runs here in minutes: the 28x28 grey digits as they are (ResNet-18's /32
leaves a 1x1 map; no upsampling), the checkpoint's RGB stem conv summed over
its 3 input channels for the one grey channel (as timm does; said on the
console), the input standardized with ImageNet's mean and std averaged over
RGB (0.449, 0.226: what the weights were trained on), a new 10-class head
(the 1000-class one is left out, said on the console). Fine-tuning: every
layer, SGD momentum 0.9, learning rate 0.01, cosine, 10 epochs. Probe
(train.trainable='head'): only the head trains, the frozen network runs as
in evaluation (BatchNorm's running statistics), Adam 1e-3, 10 epochs.

model.init_from names the file (default pretrained/resnet18.safetensors;
README, "Pretrained weights", says where to get torchvision's and timm's).
This machine cannot download published weights, so the figures below start
from an untrained torchvision ResNet-18 file, written here by
experiments.random_weights (torchvision's own initialization): they measure
the pipeline and the random-features baseline that ImageNet weights should
beat, not ImageNet transfer.

Expected (untrained torchvision initialization, seed 0, 2026-12-03, the
working tree at about commit 85ee5bd, a 2-core AMD EPYC VM shared with 3-4
other agents, load average 11-13):
fine-tuning: test accuracy 96.70% (validation 97.50%), 42 min + 14 min wall
(stopped by a timeout at step 169 and resumed; 12 min 33 s of CPU);
probe: test accuracy 74.80% (validation 77.50%), 37 min 44 s wall (6 min
10 s of CPU; the same run through experiments.train: 16 min 5 s wall).
Untrained features are a weak probe; fine-tuning trains the whole network.
The file: python -m experiments.random_weights --model=resnet18 --out=resnet18_untrained.safetensors
Measured with: python -m experiments.seeds --config=configs/mnist5k_resnet18_transfer.py --config.model.init_from=resnet18_untrained.safetensors --seeds=1 --out=runs/seeds/mnist5k_resnet18_finetune
Measured with: python -m experiments.seeds --config=configs/mnist5k_resnet18_transfer.py:probe --config.model.init_from=resnet18_untrained.safetensors --seeds=1 --out=runs/seeds/mnist5k_resnet18_probe

Run:
  python -m experiments.train --config=configs/mnist5k_resnet18_transfer.py \
      --config.model.init_from=pretrained/resnet18.safetensors --workdir=runs/mnist5k_resnet18_finetune
  python -m experiments.train --config=configs/mnist5k_resnet18_transfer.py:probe \
      --config.model.init_from=pretrained/resnet18.safetensors --workdir=runs/mnist5k_resnet18_probe
Quick smoke check:
  python -m experiments.train --config=configs/mnist5k_resnet18_transfer.py:runlocal --workdir=...
"""
from configs import common
from lib.models import input_scaling


def get_config(arg: str | None = None):
  parts = [p for p in (arg or '').split(',') if p]
  probe = 'probe' in parts
  config = common.base_config(dataset='mnist_5k')
  config.model = common.model(
      'resnet18', init_from='pretrained/resnet18.safetensors',
      input_mean=input_scaling.IMAGENET_GRAY_MEAN,
      input_std=input_scaling.IMAGENET_GRAY_STD)
  if probe:
    config.train.trainable = 'head'
    config.optimizer.name = 'adam'
    config.optimizer.learning_rate = 1e-3
  else:
    config.optimizer.name = 'momentum'
    config.optimizer.momentum = 0.9
    config.optimizer.learning_rate = 0.01
  config.optimizer.schedule = 'cosine'
  config.train.batch_size = 128
  config.train.num_epochs = 10  # 28 steps per epoch.
  config.train.log_every_steps = 28
  # 10% of the training images held out, stratified: evaluations while
  # training use them; the test split is read once.
  config.data.validation_fraction = 0.1
  return common.apply_arg(config, ','.join(p for p in parts if p != 'probe'))
