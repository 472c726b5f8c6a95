"""ResNet-50 on ImageNet (ILSVRC 2012), torchvision's reference recipe.

SGD with momentum 0.9, learning rate 0.1 for batch 256 divided by 10 at epochs
30 and 60, 90 epochs, weight decay 1e-4; random resized 224x224 crops and flips
for training, resize to 256 and centre crop 224 for evaluation (augment
'imagenet' on the grain pipeline). The learning rate follows the global batch
(0.1 x batch/256, Goyal et al. 2017): `--config.train.batch_size=64` trains at
0.025; `--config.optimizer.learning_rate=X` sets it outright. Add
`--config.optimizer.warmup_epochs=5` for batches above 256.

Result: not measured yet. It needs imagenet2012 prepared in a data_dir and a GPU, which the
development machine lacks (no network beyond package registries); measure
with: python -m experiments.seeds --config=configs/imagenet2012_resnet50.py --seeds=5 --out=runs/seeds/imagenet2012_resnet50
and record mean +- std, machine, date and wall time here.

Run:
  python -m experiments.train --config=configs/imagenet2012_resnet50.py --workdir=runs/imagenet2012_resnet50
Variants (ablations):
  python -m experiments.train --config=configs/imagenet2012_resnet50.py \
      --config.model.activation=tanh --config.model.pooling=mean \
      --config.train.compute_dtype=bfloat16 --workdir=...
Quick smoke check:
  python -m experiments.train --config=configs/imagenet2012_resnet50.py:runlocal --workdir=...
"""
from configs import common


def get_config(arg: str | None = None):
  config = common.base_config(dataset='imagenet2012')
  config.data.test_split = 'validation'
  config.data.pipeline = 'grain'
  config.data.augment = 'imagenet'
  config.data.image_size = 224
  # data.worker_count: the default, every core on accelerators (JPEGs are
  # decoded and cropped there; experiments/bench/imagenet_host.py).
  config.model = common.model('resnet50', activation='relu', pooling='max',
                              shortcut='projection', norm='batch', dropout=0.0)
  config.optimizer.name = 'momentum'
  config.optimizer.momentum = 0.9
  config.optimizer.weight_decay = 1e-4
  # He et al. decayed every parameter, BatchNorm's scales and biases too
  # (torchvision's recipe as well); 'kernels' would spare them.
  config.optimizer.weight_decay_mask = 'all'
  config.optimizer.schedule = 'step'
  config.optimizer.step_epochs = (30, 60)
  config.train.batch_size = 256
  common.scale_lr_with_batch(config, base_learning_rate=0.1, base_batch_size=256)
  config.train.num_epochs = 90
  config.train.log_every_steps = 100
  config.train.checkpoint_every_steps = 5000
  # big_vision's minival: the last 1% of the training split (about 12,800
  # images) for evaluations while training and for anything chosen;
  # 'validation' (50,000) is the test split, read once after the last step.
  config.data.train_split = 'train[:99%]'
  config.data.validation_split = 'train[99%:]'
  return common.apply_arg(config, arg)
