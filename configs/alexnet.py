"""AlexNet on ImageNet (ILSVRC 2012), `--config=configs/alexnet.py:imagenet2012`:
torchvision's single-tower model with the training recipe of Krizhevsky et
al. 2012.

SGD with momentum 0.9, batch 128, weight decay 5e-4, learning rate 0.01
divided by 10 three times (here at epochs 30, 60 and 80; the paper did it by
hand when validation error stalled), 90 epochs; dropout 0.5 in the first two
fc layers. Augmentation is torchvision's (augment 'imagenet': random resized
224x224 crops, flips; resize 256 and centre crop for evaluation) rather than
the paper's fixed 256x256 crops and PCA colour noise. The learning rate
follows the global batch (0.01 x batch/128, the linear scaling rule of Goyal
et al. 2017): `--config.train.batch_size=32` trains at 0.0025;
`--config.optimizer.learning_rate=X` sets it outright.

Result: not measured yet. It needs imagenet2012 prepared in a data_dir and a GPU, which the
development machine lacks (no network beyond package registries); measure
with: python -m experiments.seeds --config=configs/alexnet.py:imagenet2012 --seeds=5 --out=runs/seeds/imagenet2012_alexnet
and record mean +- std, machine, date and wall time here.

Run:
  python -m experiments.train --config=configs/alexnet.py:imagenet2012 --workdir=runs/imagenet2012_alexnet
Variants (ablations):
  python -m experiments.train --config=configs/alexnet.py:imagenet2012 \
      --config.model.name=alexnet_paper --workdir=...   # two towers + LRN
  python -m experiments.train --config=configs/alexnet.py:imagenet2012 \
      --config.model.activation=tanh --config.model.pooling=mean \
      --config.model.dropout=0.0 --workdir=...
Quick smoke check:
  python -m experiments.train --config=configs/alexnet.py:imagenet2012,runlocal --workdir=...
"""
from configs import common


def get_config(arg: str | None = None):
  dataset, _, arg = common.variant(arg, ('imagenet2012',))
  config = common.base_config(dataset=dataset)
  common.imagenet_data(config)
  config.model = common.model('alexnet', activation='relu', pooling='max',
                              dropout=0.5)
  config.optimizer.name = 'momentum'
  config.optimizer.momentum = 0.9
  config.optimizer.weight_decay = 5e-4
  # The paper's update rule decays the weights w, and cuda-convnet's layer
  # files give a weight cost to weights only: no decay on the biases.
  config.optimizer.weight_decay_mask = 'kernels'
  config.optimizer.schedule = 'step'
  config.optimizer.step_epochs = (30, 60, 80)
  config.train.batch_size = 128
  common.scale_lr_with_batch(config, base_learning_rate=0.01, base_batch_size=128)
  config.train.num_epochs = 90
  config.train.log_every_steps = 100
  config.train.checkpoint_every_steps = 5000
  return common.apply_arg(config, arg)
