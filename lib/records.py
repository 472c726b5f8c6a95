"""What a training session records, per seed: metrics.jsonl and TensorBoard
lines (lib/metrics_writer.py), the console's progress lines, divergence, and
the best evaluation so far of the split the run chooses on.

Splits are named by their role: 'train' (the step's running means),
'validation' and 'test'. The training split evaluated in inference mode at
the end goes to results.json only (lib/trainer.py _results). Metrics
arrive as arrays [S] from a stacked program and as scalars from an ordinary
run; both are handled as [S].
"""
from typing import Sequence

import jax
import numpy as np

from lib import errors, metrics_writer, progress


class Records:

  def __init__(self, program, workdirs: Sequence[str], start: int,
               primary: bool):
    run = program.run
    self.run, self.stacked, self.primary = run, program.stacked, primary
    self.selection = program.selection_role
    self.writers = [metrics_writer.MetricWriter(w, primary, resumed_at_step=start)
                    for w in workdirs]
    self.diverged: dict[int, errors.Diverged] = {}
    self.meter = progress.Meter(start, run.total_steps,
                                run.config.train.batch_size,
                                run.data.steps_per_epoch)
    # A resumed run's earlier evaluations count.
    self.best, self.best_step = self._best_so_far(start)
    self.last: dict[str, dict] = {}  # Split -> its latest evaluation, [S].

  def first_step_done(self, step: int, state, model_line) -> None:
    """The session's first step compiled the program: the clock starts now,
    and the model's size is said (lowering it here costs no start-up)."""
    self.meter.first_step_done(step, lambda: jax.block_until_ready(state))
    if self.primary:
      progress.say(model_line())

  def train(self, pending: list[tuple[int, dict]]) -> None:
    """Logs the means since the last log. A non-finite loss is divergence,
    found here before anything of that step is saved."""
    steps = [s for s, _ in pending]
    values = [{k: np.atleast_1d(v) for k, v in m.items()}
              for m in jax.device_get([m for _, m in pending])]
    loss = np.stack([m['loss'] for m in values])  # [steps, S]
    summary = {k: np.mean([m[k] for m in values], axis=0) for k in values[0]}
    summary['learning_rate'] = values[-1]['learning_rate']  # At the logged step.
    for i, w in enumerate(self.writers):
      if i in self.diverged:
        continue
      bad = np.flatnonzero(~np.isfinite(loss[:, i]))
      if bad.size:
        what = f'the loss became {float(loss[bad[0], i])} at step {steps[bad[0]]}; '
        if not self.stacked:
          raise errors.Diverged(
              what + 'stopped without saving it (the last checkpoint is good); '
              'lower the learning rate or check the data')
        self.diverged[i] = errors.Diverged(
            what + 'lower the learning rate or check the data')
        continue
      w.write('train', steps[-1], {k: v[i] for k, v in summary.items()})
    if not self.stacked and self.primary:
      progress.say(self.meter.line(steps[-1], {k: v[0] for k, v in summary.items()}))

  def evaluated(self, step: int, split: str, metrics: dict,
                write: bool = True) -> None:
    """An evaluation of `split` at `step`; the selection split's counts
    towards the best step. `write=False`: already recorded (a session
    resumed at the last step only needs the figures). The training split's
    (inference mode, at the end) is kept for results.json: in metrics.jsonl
    it would be a second 'train' line of other meaning at the last step."""
    metrics = {k: np.atleast_1d(v) for k, v in metrics.items()}
    self.last[split] = metrics
    if split == self.selection:
      better = metrics['accuracy'] > self.best
      self.best = np.where(better, metrics['accuracy'], self.best)
      self.best_step = np.where(better, step, self.best_step)
    if not write or split == 'train':
      return
    for i, w in enumerate(self.writers):
      if i not in self.diverged:
        w.write(split, step, {k: v[i] for k, v in metrics.items()})
    if not self.stacked and self.primary:
      line = self.meter.eval_line(step, {k: v[0] for k, v in metrics.items()}, split)
      if 'raw_accuracy' in metrics:  # The figures above are the average's (train.ema_decay).
        line += (f" (averaged weights; trained: loss {metrics['raw_loss'][0]:.4f} | "
                 f"acc {100 * metrics['raw_accuracy'][0]:.2f}%)")
      progress.say(line)

  def _best_so_far(self, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Each seed's best logged selection-split accuracy up to step `start`
    (0 if none) and its first step (0 if none)."""
    best, at = [], []
    for w in self.writers:
      logged = [(m['accuracy'], -m['step']) for m in metrics_writer.read(w.workdir)
                if w.enabled and m['split'] == self.selection and m['step'] <= start]
      accuracy, minus_step = max(logged, default=(0.0, 0))
      best.append(accuracy)
      at.append(-minus_step)
    return np.array(best), np.array(at)

  def close(self):
    for w in self.writers:
      w.close()
