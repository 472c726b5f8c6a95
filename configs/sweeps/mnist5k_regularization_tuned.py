"""Which regularizer helps LeNet-5 on the embedded mnist_5k: none, dropout
0.5, weight decay, label smoothing or mixup, each arm at the learning rate
it chooses on validation data (10% of the training split held out), 5 rates
x 5 seeds per arm, compared with none (paired over seeds, Holm-corrected)
at the shared rate and at each arm's own choice (configs/sweeps/common.py
tuned).

The arms change one thing each from LeNet-5 as configured
(configs/lenet5.py:mnist_5k: tanh, mean pooling, Adam, cosine, 15 epochs
here, no augmentation), at the strengths their papers and timm use:
  dropout          model.dropout 0.5 before the dense layers (Srivastava et al. 2014)
  weight decay     optimizer.weight_decay 5e-4, kernels only (L2 added to the
                   gradient, as the ResNet paper's; biases and norms not decayed)
  label smoothing  train.label_smoothing 0.1 (Szegedy et al. 2016)
  mixup            data.mixup_alpha 0.2 (Zhang et al. 2018; timm's ImageNet value)

  python -m experiments.sweep --sweep=configs/sweeps/mnist5k_regularization_tuned.py \\
      --study_dir=studies/mnist5k_regularization_tuned
  python -m experiments.report --study_dir=studies/mnist5k_regularization_tuned

Result (2026-12-03 15:31-15:48 UTC, 2-core AMD EPYC VM beside a test run,
load average 2-5; 125 runs in 17 min 1 s; the process ran the tree that was
committed as 0454c28 during the run, so its report names 547dd80+dirty and
0454c28+dirty; experiments/results/mnist5k_regularization_tuned/report.md).
Test accuracy, mean +- std over 5 seeds [95% bootstrap interval], at each
arm's own rate (chosen on validation):
  none             95.66 +- 0.44 [95.34, 96.02]  lr 0.01
  dropout 0.5      94.80 +- 0.24 [94.56, 94.96]  lr 0.01
  weight decay     96.28 +- 0.19 [96.10, 96.40]  lr 0.02 (edge of the grid)
  label smoothing  96.08 +- 0.28 [95.72, 96.22]  lr 0.01
  mixup            95.58 +- 0.34 [95.18, 95.78]  lr 0.01
none minus each, paired over seeds, Holm-corrected over the 4: dropout +0.86
pp (p 0.095), weight decay -0.62 (p 0.24), label smoothing -0.42 (p 0.29),
mixup +0.08 (p 0.8); detectable with 5 seeds: 0.9-1.1 pp. At the shared rate
0.001 (too low for every arm: each chose 0.01 or 0.02) dropout and mixup cost
accuracy (+2.10 pp, p 0.008; +0.86 pp, p 2e-5), the others nothing.
In plain words: at its own learning rate no regularizer changes LeNet-5's
test accuracy on these 3,600 images by more than 5 seeds can detect; weight
decay and label smoothing lean ahead, dropout behind. Every one narrows the
inference-mode train/test gap (0.3-0.7 pp at the chosen rates), which is
what they regularize; none turns that into test accuracy here.
"""
from configs.sweeps import common
from lib import sweeps

# none, dropout, weight decay, label smoothing, mixup: one field moves per arm.
ARMS = sweeps.zip({'model.dropout': [0.0, 0.5, 0.0, 0.0, 0.0]},
                  {'optimizer.weight_decay': [0.0, 0.0, 5e-4, 0.0, 0.0]},
                  {'train.label_smoothing': [0.0, 0.0, 0.0, 0.1, 0.0]},
                  {'data.mixup_alpha': [0.0, 0.0, 0.0, 0.0, 0.2]})


def get_sweep():
  return common.tuned('mnist_5k', ARMS, {'optimizer.weight_decay_mask': 'kernels'})
