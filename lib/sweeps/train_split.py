"""A finished run's accuracy on its own training split, in inference mode.

The logged training accuracy is measured with dropout and augmentation on,
so it understates how well a regularized model fits; the report's train/test
gap in inference mode uses this instead. Recorded as a metrics line with
split 'train_eval' at the final step. lib/multi_seed.py writes it itself;
for runs of lib/trainer.py the sweep runner evaluates the final checkpoint.
"""
import os

import jax
import ml_collections

from lib import checkpointing, metrics_writer, train_step, trainer
from lib.data import pipeline

SPLIT = 'train_eval'


def as_eval_data(config: ml_collections.ConfigDict) -> pipeline.Data:
  """The config's data with the training split in the evaluation's place."""
  data_config = config.data.copy_and_resolve_references()
  with data_config.unlocked():
    data_config.eval_split = data_config.train_split
  return pipeline.Data(data_config, config.train.batch_size, config.seed)


def evaluate_checkpoint(config: ml_collections.ConfigDict, workdir: str) -> dict | None:
  """Evaluates workdir's latest checkpoint on the training split and
  appends the 'train_eval' line to its metrics; None without a checkpoint."""
  run = trainer.Run(config)
  ckpt = checkpointing.Checkpointer(os.path.join(workdir, 'checkpoints'),
                                    config.train.keep_checkpoints)
  try:
    step, state = ckpt.restore_latest(run.abstract_state, None)
  finally:
    ckpt.close()
  if not step:
    return None
  eval_fn = jax.jit(train_step.make_eval_step(run.model))
  metrics = trainer.evaluate(eval_fn, state, as_eval_data(config).eval_batches())
  writer = metrics_writer.MetricWriter(workdir, resumed_at_step=step)
  writer.write(SPLIT, step, metrics)
  writer.close()
  return metrics
