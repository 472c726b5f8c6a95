"""What the report measures on each finished run."""
import dataclasses

from lib.report import stats
from lib.report.runs import Run


@dataclasses.dataclass(frozen=True)
class Measures:
  test_acc: float
  best_acc: float                # Best periodic evaluation (of the 'chosen_on' split).
  last_train_acc: float | None   # Last logged training accuracy (dropout on).
  gap: float | None              # last_train_acc - test_acc.
  # Training split in inference mode (no dropout or augmentation) - test_acc.
  inference_gap: float | None
  steps_to_target: int | None    # None: the target was never reached.
  wall_s: float                  # This run's share of its program's time.
  at_chance: bool | None         # Ended at chance level (None: class count unknown).


# A run "ended at chance level" when its test accuracy is below 1/K plus the
# smaller of 5 points and half of 1/K (K classes): a net that collapsed to one
# class of a balanced task, or never learned (15% for 10 classes, 55% for 2,
# 1.5% for 100). A one-vs-rest task's majority class is not balanced: a net
# that collapsed onto it scores its share and is not caught by this.
CHANCE_MARGIN = 0.05


def at_chance(results: dict) -> bool | None:
  k = results.get('num_classes')  # Written since 2026-12-03; older runs: unknown.
  if not k:
    return None
  k = max(k, 2)
  return test_accuracy(results) < 1 / k + min(CHANCE_MARGIN, 0.5 / k)


def at_chance_count(ms: list[Measures]) -> int | None:
  """How many of the measured runs ended at chance level; None if no run
  says how many classes it had (runs saved before results.json did)."""
  known = [m.at_chance for m in ms if m.at_chance is not None]
  return sum(known) if known else None


def diverged(run: Run) -> bool:
  """A failed run whose loss became non-finite (lib/errors.py Diverged)."""
  return run.status == 'failed' and (run.error or '').startswith('Diverged')


def test_accuracy(results: dict) -> float:
  """The test split at the last step."""
  return results['test_accuracy']


def measure(run: Run, target: float) -> Measures:
  r = run.results
  test = test_accuracy(r)
  train = run.curve('train')
  last_train = train[max(train)] if train else None
  inference = r.get('train_inference_accuracy')
  return Measures(
      test_acc=test, best_acc=r['best_accuracy'],
      last_train_acc=last_train,
      gap=None if last_train is None else last_train - test,
      inference_gap=None if inference is None else inference - test,
      steps_to_target=stats.steps_to_target(train, target),
      # Seeds trained in one program share its time.
      wall_s=r['train_seconds_this_session'] / r.get('seeds_in_program', 1),
      at_chance=at_chance(r))
