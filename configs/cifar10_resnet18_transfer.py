"""ResNet-18 from torchvision's (or timm's) ImageNet weights on CIFAR-10:
fine-tuning every layer, or with `:probe` a linear probe.

The transfer recipe of torchvision's fine-tuning tutorial: the images
upsampled to 224x224 as the weights saw ImageNet (augment 'imagenet':
random resized crops and flips for training; shorter side to 256 and the
centre 224 for evaluation), standardized with ImageNet's mean and std
(model.input_mean/input_std: what the weights were trained on), a new
10-class head (the 1000-class fc is left out, said on the console).
Fine-tuning: SGD momentum 0.9, learning rate 0.01 at batch 128 (the linear
scaling rule for other batches), cosine over 10 epochs, weight decay 1e-4
(not on biases and BatchNorm). Probe (train.trainable='head'): only the
head trains, the frozen network runs as in evaluation (BatchNorm's running
statistics), Adam 1e-3, 10 epochs. 5,000 training images held out for
validation.

model.init_from names the weights (default pretrained/resnet18.safetensors;
README, "Pretrained weights": torchvision's resnet18-f37072fd.pth with torch
installed, or timm's resnet18.tv_in1k / resnet18.a1_in1k model.safetensors).
A ResNet-18 step at 224x224 costs 49x one at 32x32: a GPU run.
--config.data.image_size=32 --config.data.augment=cifar trains at CIFAR's own
size instead (the ImageNet stem leaves a 1x1 map there).

Result: not measured yet: it needs cifar10 prepared in a data_dir and the
published weights, which this machine cannot download; measure with
  python -m experiments.seeds --config=configs/cifar10_resnet18_transfer.py --seeds=3 --out=runs/seeds/cifar10_resnet18_finetune
and record mean +- std, machine, date and wall time here.

Run:
  python -m experiments.train --config=configs/cifar10_resnet18_transfer.py \
      --config.model.init_from=pretrained/resnet18.safetensors --workdir=runs/cifar10_resnet18_finetune
  python -m experiments.train --config=configs/cifar10_resnet18_transfer.py:probe \
      --config.model.init_from=pretrained/resnet18.safetensors --workdir=runs/cifar10_resnet18_probe
Quick smoke check:
  python -m experiments.train --config=configs/cifar10_resnet18_transfer.py:runlocal --workdir=...
"""
from configs import common
from lib.models import input_scaling


def get_config(arg: str | None = None):
  parts = [p for p in (arg or '').split(',') if p]
  probe = 'probe' in parts
  config = common.base_config(dataset='cifar10')
  config.data.pipeline = 'grain'
  config.data.augment = 'imagenet'
  config.data.image_size = 224
  config.model = common.model(
      'resnet18', init_from='pretrained/resnet18.safetensors',
      input_mean=input_scaling.IMAGENET_MEAN,
      input_std=input_scaling.IMAGENET_STD)
  config.train.batch_size = 128
  if probe:
    config.train.trainable = 'head'
    config.optimizer.name = 'adam'
    config.optimizer.learning_rate = 1e-3
  else:
    config.optimizer.name = 'momentum'
    config.optimizer.momentum = 0.9
    common.scale_lr_with_batch(config, 0.01, 128)
    config.optimizer.weight_decay = 1e-4
    config.optimizer.weight_decay_mask = 'kernels'
  config.optimizer.schedule = 'cosine'
  config.train.num_epochs = 10
  config.train.log_every_steps = 100
  config.data.validation_fraction = 0.1
  return common.apply_arg(config, ','.join(p for p in parts if p != 'probe'))
