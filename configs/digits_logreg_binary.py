"""Binary logistic regression, the lecture's sigmoid model: "is it a 3?".

One sigmoid output, binary cross-entropy, full-batch gradient descent.
Run:
  python -m experiments.train --config=configs/digits_logreg_binary.py \
      --workdir=runs/digits_logreg_binary
Another digit:  --config.data.positive_class=8
"""
from configs import common


def get_config(arg: str | None = None):
  config = common.base_config(dataset='digits')
  config.data.positive_class = 3
  config.model = common.model('logistic_regression')
  config.optimizer.name = 'gd'
  config.optimizer.learning_rate = 1.0
  config.train.batch_size = 1432  # Full batch (1437 rounded down to 8 devices).
  config.train.num_epochs = 300
  config.train.log_every_steps = 50
  config.train.eval_every_epochs = 50
  return common.apply_arg(config, arg)
