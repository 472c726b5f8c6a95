"""Test-split predictions, the confusion matrix and per-class precision/recall/F1."""
from typing import Iterable

import flax.linen as nn
import jax
import numpy as np
from sklearn import metrics

from lib import train_step
from lib.visualize import canvas

ANNOTATE_MAX = 30  # Classes up to which cells carry their counts.


def predict(model: nn.Module, variables: dict,
            batches: Iterable[dict]) -> tuple[np.ndarray, np.ndarray]:
  """(labels, predictions) of every real (mask=1) example in `batches`."""

  @jax.jit
  def classes(images):
    logits = model.apply(variables, train_step.to_float(images), train=False)
    if logits.shape[-1] == 1:  # Binary task: one sigmoid output.
      return (logits[:, 0] > 0).astype(np.int32)
    return logits.argmax(-1)

  labels, preds = [], []
  for batch in batches:
    keep = np.asarray(batch['mask'], bool)
    labels.append(np.asarray(batch['label'])[keep])
    preds.append(np.asarray(classes(batch['image']))[keep])
  return np.concatenate(labels), np.concatenate(preds)


def classification_report(labels: np.ndarray, preds: np.ndarray,
                          class_names: list[str]) -> dict:
  """Confusion matrix (rows: true class) and sklearn's per-class report."""
  ids = list(range(len(class_names)))
  cm = metrics.confusion_matrix(labels, preds, labels=ids)
  report = metrics.classification_report(
      labels, preds, labels=ids, target_names=class_names, output_dict=True,
      zero_division=0)
  return {
      'num_examples': int(len(labels)),
      'accuracy': float(np.mean(labels == preds)) if len(labels) else 0.0,
      'class_names': class_names,
      'confusion_matrix': cm.tolist(),
      'per_class': {name: report[name] for name in class_names},
      'macro_avg': report['macro avg'],
      'weighted_avg': report['weighted avg'],
  }


def figure_size(num_classes: int) -> tuple[int, int]:
  side = int(np.clip(60 * num_classes, 600, 1000))
  return side + 560, side + 90


def draw(result: dict, title: str) -> np.ndarray:
  names = result['class_names']
  cm = np.asarray(result['confusion_matrix'])
  k = len(names)
  fig = canvas.new_figure(*figure_size(k))
  grid = fig.add_gridspec(1, 2, width_ratios=[figure_size(k)[1], 480])
  _matrix(fig, fig.add_subplot(grid[0, 0]), cm, names)
  _per_class(fig, fig.add_subplot(grid[0, 1]), result, names)
  macro = result['macro_avg']
  fig.suptitle(
      f"{title}: accuracy {100 * result['accuracy']:.2f}% on "
      f"{result['num_examples']} examples, macro F1 {macro['f1-score']:.3f}",
      fontsize=12)
  return canvas.to_rgb(fig)


def _matrix(fig, ax, cm, names):
  k = len(names)
  totals = cm.sum(axis=1, keepdims=True)
  share = cm / np.maximum(totals, 1)  # Colour: fraction of the true class.
  im = ax.imshow(share, cmap='Blues', vmin=0, vmax=1)
  cbar = fig.colorbar(im, ax=ax, shrink=0.8)
  cbar.set_label('fraction of the true class (row)')
  if k <= ANNOTATE_MAX:
    ax.set_xticks(range(k), names, rotation=90 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(range(k), names)
    for i in range(k):
      for j in range(k):
        if cm[i, j]:
          ax.text(j, i, str(cm[i, j]), ha='center', va='center',
                  fontsize=9 if k <= 15 else 6,
                  color='white' if share[i, j] > 0.5 else
                  ('#b00' if i != j else 'black'))
  ax.set_xlabel('predicted class')
  ax.set_ylabel('true class')
  ax.set_title('confusion matrix (counts; red: mistakes)', fontsize=10)


def _per_class(fig, ax, result, names):
  k = len(names)
  cols = ('precision', 'recall', 'f1-score')
  table = np.array([[result['per_class'][n][c] for c in cols] for n in names])
  im = ax.imshow(table, cmap='RdYlGn', vmin=max(0.0, min(0.5, table.min())),
                 vmax=1, aspect='auto')
  cbar = fig.colorbar(im, ax=ax, shrink=0.8)
  cbar.set_label('score')
  ax.set_xticks(range(3), ['precision', 'recall', 'F1'])
  ax.xaxis.tick_top()
  if k <= ANNOTATE_MAX:
    ax.set_yticks(range(k), [f"{n} (n={int(result['per_class'][n]['support'])})"
                             for n in names], fontsize=8 if k <= 15 else 6)
    for i in range(k):
      for j in range(3):
        ax.text(j, i, f'{table[i, j]:.3f}', ha='center', va='center',
                fontsize=9 if k <= 15 else 6,
                color='white' if table[i, j] > 0.93 else 'black')
  else:
    ax.set_ylabel('class')
  ax.set_xlabel('per-class scores (n = true examples)', fontsize=10)
