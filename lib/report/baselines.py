"""Classical learners from scikit-learn on exactly the study's splits.

The splits are read from the prepared TFDS data through the project's own
pipeline (lib/data), so the numbers sit next to the networks' fairly: same
images, same train/test partition, pixels scaled to [0, 1].
"""
import time

import ml_collections
import numpy as np
from sklearn import linear_model, neighbors, svm, tree
from threadpoolctl import threadpool_limits

from lib.data import pipeline
from lib.report import table

SEEDS = 5  # Only the decision tree is random (its tie-breaking).


def learners(seed: int) -> dict:
  return {
      'logistic regression': linear_model.LogisticRegression(max_iter=5000),
      'RBF SVM': svm.SVC(kernel='rbf'),
      'k-NN (k=3)': neighbors.KNeighborsClassifier(n_neighbors=3),
      'decision tree': tree.DecisionTreeClassifier(random_state=seed),
  }


RANDOM = ('decision tree',)


def load_splits(data_config: dict, batch_size: int):
  data = pipeline.Data(ml_collections.ConfigDict(data_config), batch_size, seed=0)
  train = data.split_arrays('train')  # Without the validation examples.
  test = data.split_arrays('test')
  flat = lambda s: s['image'].reshape(len(s['image']), -1).astype(np.float32) / 255.0
  return (flat(train), train['label']), (flat(test), test['label']), data.spec.num_train


def evaluate(data_config: dict, batch_size: int) -> list[dict]:
  """One table row per learner: test accuracy (mean over seeds where it is
  random), train-set accuracy minus test accuracy, and fit time."""
  (x_train, y_train), (x_test, y_test), _ = load_splits(data_config, batch_size)
  rows = []
  for name in learners(0):
    tests, gaps, times = [], [], []
    for seed in range(SEEDS if name in RANDOM else 1):
      model = learners(seed)[name]
      # One BLAS thread: lbfgs's result depends on the thread count's
      # summation order (digits: 96.39% with 2 threads, 96.11% with 1), and
      # a baseline must not move with the machine's cores.
      with threadpool_limits(limits=1):
        t0 = time.time()
        model.fit(x_train, y_train)
        times.append(time.time() - t0)
        test_acc = model.score(x_test, y_test)
        tests.append(test_acc)
        gaps.append(model.score(x_train, y_train) - test_acc)
    row = {'kind': 'baseline', 'config': f'baseline: {name}',
           'planned': len(tests), 'finished': len(tests), 'failed': 0}
    # No periodic evaluations, so no best one: its column shows '–'.
    row.update(table.summaries('test_acc', tests, 100))
    row.update(table.summaries('train_test_gap', gaps, 100))
    # No dropout or augmentation: the inference-mode gap is the same.
    row.update(table.summaries('train_test_gap_inference', gaps, 100))
    row.update(table.summaries('steps_to_train_target', []))
    row['reached_train_target'] = 0
    row.update(table.summaries('wall_s', times))
    rows.append(row)
  return rows
