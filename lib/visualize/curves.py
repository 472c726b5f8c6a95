"""Learning curves: training and evaluation loss and accuracy against the step."""
import numpy as np

from lib.visualize import canvas

SIZE = (1200, 480)


def split_series(records: list[dict], split: str, key: str):
  """(steps, values) of `key` in the metrics.jsonl records of `split`."""
  rows = sorted((r['step'], r[key]) for r in records
                if r.get('split') == split and isinstance(r.get(key), (int, float)))
  if not rows:
    return np.zeros(0), np.zeros(0)
  steps, values = zip(*rows)
  return np.asarray(steps), np.asarray(values, np.float64)


def draw(records: list[dict], title: str, steps_per_epoch: int = 0) -> np.ndarray:
  fig = canvas.new_figure(*SIZE)
  loss_ax, acc_ax = fig.subplots(1, 2)
  # Evaluations while training: 'validation' where the run held some out,
  # else 'test'.
  during = 'validation' if any(r['split'] == 'validation' for r in records) else 'test'
  styles = {'train': dict(color='#1f77b4', lw=1.2, alpha=0.9),
            during: dict(color='#d62728', lw=1.6, marker='o', ms=3)}
  labels = {'train': 'train (mean since last log, train mode)',
            during: during}
  for split, style in styles.items():
    steps, loss = split_series(records, split, 'loss')
    if len(steps):
      loss_ax.plot(steps, loss, label=labels[split], **style)
    steps, acc = split_series(records, split, 'accuracy')
    if len(steps):
      acc_ax.plot(steps, 100 * acc, label=labels[split], **style)
  steps, acc = split_series(records, during, 'accuracy')
  if len(steps):
    best = int(np.argmax(acc))
    acc_ax.plot(steps[best], 100 * acc[best], '*', color='black', ms=12,
                label=f'best {during} {100 * acc[best]:.2f}% (step {steps[best]})')
  steps, acc = split_series(records, 'test', 'accuracy')
  if len(steps) and during == 'validation':
    acc_ax.plot(steps[-1:], 100 * acc[-1:], 's', color='#2ca02c', ms=7,
                label=f'test, once at the end {100 * acc[-1]:.2f}%')
  loss_ax.set_yscale('log')
  loss_ax.set_title('loss (log scale)')
  loss_ax.set_ylabel('cross-entropy')
  acc_ax.set_title('accuracy')
  acc_ax.set_ylabel('accuracy (%)')
  for ax in (loss_ax, acc_ax):
    ax.set_xlabel('step' + (f' ({steps_per_epoch} steps per epoch)'
                            if steps_per_epoch else ''))
    ax.grid(True, alpha=0.3)
    if ax.lines:
      ax.legend()
  # Zoom the accuracy axis in on the interesting part, above the first eval.
  all_acc = [100 * v for split in styles
             for v in split_series(records, split, 'accuracy')[1]]
  if all_acc:
    low = max(0.0, np.percentile(all_acc, 5) - 5)
    acc_ax.set_ylim(low, 100.5)
    if low >= 1:  # A zoomed axis says where it starts (and what it hides).
      acc_ax.set_title(f'accuracy (axis starts at {low:.3g}%, not 0'
                       + ('; the first evals are below)' if low > min(all_acc) else ')'))
  fig.suptitle(title, fontsize=12)
  return canvas.to_rgb(fig)
