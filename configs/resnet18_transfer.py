"""ResNet-18 from torchvision's (or timm's) ImageNet weights,
`--config=configs/resnet18_transfer.py:DATASET[,probe]`: fine-tuning every
layer, or with `probe` a linear probe (train.trainable='head': only the head
trains, the frozen network runs as in evaluation, with BatchNorm's running
statistics; Adam 1e-3, 10 epochs). A new 10-class head either way (the
1000-class fc is left out, said on the console). 10% of the training images
are held out for validation.

- cifar10: the transfer recipe of torchvision's fine-tuning tutorial. The
  images upsampled to 224x224 as the weights saw ImageNet (augment
  'imagenet': random resized crops and flips for training; shorter side to
  256 and the centre 224 for evaluation), standardized with ImageNet's mean
  and std (model.input_mean/input_std: what the weights were trained on).
  Fine-tuning: SGD momentum 0.9, learning rate 0.01 at batch 128 (the linear
  scaling rule for other batches), cosine over 10 epochs, weight decay 1e-4
  (not on biases and BatchNorm). A ResNet-18 step at 224x224 costs 49x one
  at 32x32: a GPU run. --config.data.image_size=32
  --config.data.augment=cifar trains at CIFAR's own size instead (the
  ImageNet stem leaves a 1x1 map there).
- mnist_5k (the 5,000 embedded MNIST digits, lib/data/mnist_5k.py): the same
  recipes at a size that runs here in minutes. The 28x28 grey digits as they
  are (ResNet-18's /32 leaves a 1x1 map; no upsampling), the checkpoint's
  RGB stem conv summed over its 3 input channels for the one grey channel
  (as timm does; said on the console), the input standardized with
  ImageNet's mean and std averaged over RGB (0.449, 0.226). Fine-tuning:
  every layer, SGD momentum 0.9, learning rate 0.01, cosine, 10 epochs.

model.init_from names the weights (default pretrained/resnet18.safetensors;
README, "Pretrained weights": torchvision's resnet18-f37072fd.pth with torch
installed, or timm's resnet18.tv_in1k / resnet18.a1_in1k model.safetensors).
This machine cannot download published weights, so the mnist_5k figures
below start from an untrained torchvision ResNet-18 file, written here by
experiments.random_weights (torchvision's own initialization): they measure
the pipeline and the random-features baseline that ImageNet weights should
beat, not ImageNet transfer.

mnist_5k. Expected (untrained torchvision initialization, seed 0, 2026-12-03,
the working tree at about commit 85ee5bd, a 2-core AMD EPYC VM shared with
3-4 other agents, load average 11-13):
fine-tuning: test accuracy 96.70% (validation 97.50%), 42 min + 14 min wall
(stopped by a timeout at step 169 and resumed; 12 min 33 s of CPU);
probe: test accuracy 74.80% (validation 77.50%), 37 min 44 s wall (6 min
10 s of CPU; the same run through experiments.train: 16 min 5 s wall).
Untrained features are a weak probe; fine-tuning trains the whole network.
The file: python -m experiments.random_weights --model=resnet18 --out=resnet18_untrained.safetensors
Measured with: python -m experiments.seeds --config=configs/resnet18_transfer.py:mnist_5k --config.model.init_from=resnet18_untrained.safetensors --seeds=1 --out=runs/seeds/mnist5k_resnet18_finetune
Measured with: python -m experiments.seeds --config=configs/resnet18_transfer.py:mnist_5k,probe --config.model.init_from=resnet18_untrained.safetensors --seeds=1 --out=runs/seeds/mnist5k_resnet18_probe

cifar10: not measured yet: it needs cifar10 prepared in a data_dir and the
published weights, which this machine cannot download; measure with
  python -m experiments.seeds --config=configs/resnet18_transfer.py:cifar10 --seeds=3 --out=runs/seeds/cifar10_resnet18_finetune
and record mean +- std, machine, date and wall time here.

Run:
  python -m experiments.train --config=configs/resnet18_transfer.py:cifar10 \
      --config.model.init_from=pretrained/resnet18.safetensors --workdir=runs/cifar10_resnet18_finetune
  python -m experiments.train --config=configs/resnet18_transfer.py:cifar10,probe \
      --config.model.init_from=pretrained/resnet18.safetensors --workdir=runs/cifar10_resnet18_probe
  python -m experiments.train --config=configs/resnet18_transfer.py:mnist_5k \
      --config.model.init_from=pretrained/resnet18.safetensors --workdir=runs/mnist5k_resnet18_finetune
  python -m experiments.train --config=configs/resnet18_transfer.py:mnist_5k,probe \
      --config.model.init_from=pretrained/resnet18.safetensors --workdir=runs/mnist5k_resnet18_probe
Quick smoke check:
  python -m experiments.train --config=configs/resnet18_transfer.py:mnist_5k,runlocal --workdir=...
"""
from configs import common
from lib.models import input_scaling


def get_config(arg: str | None = None):
  dataset, options, arg = common.variant(arg, ('cifar10', 'mnist_5k'), ('probe',))
  config = common.base_config(dataset=dataset)
  if dataset == 'cifar10':
    config.data.pipeline = 'grain'
    config.data.augment = 'imagenet'
    config.data.image_size = 224
    mean, std = input_scaling.IMAGENET_MEAN, input_scaling.IMAGENET_STD
  else:
    mean, std = input_scaling.IMAGENET_GRAY_MEAN, input_scaling.IMAGENET_GRAY_STD
  config.model = common.model('resnet18', init_from='pretrained/resnet18.safetensors',
                              input_mean=mean, input_std=std)
  config.train.batch_size = 128
  if 'probe' in options:
    config.train.trainable = 'head'
    config.optimizer.name = 'adam'
    config.optimizer.learning_rate = 1e-3
  else:
    config.optimizer.name = 'momentum'
    config.optimizer.momentum = 0.9
    if dataset == 'cifar10':
      common.scale_lr_with_batch(config, 0.01, 128)
      config.optimizer.weight_decay = 1e-4
      config.optimizer.weight_decay_mask = 'kernels'
    else:
      config.optimizer.learning_rate = 0.01
  config.optimizer.schedule = 'cosine'
  config.train.num_epochs = 10  # mnist_5k: 28 steps per epoch.
  config.train.log_every_steps = {'cifar10': 100, 'mnist_5k': 28}[dataset]
  common.hold_out_validation(config)
  return common.apply_arg(config, arg)
