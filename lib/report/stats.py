"""Statistics over seeds: mean, standard deviation, Student-t 95% interval.

With n seeds the interval is mean +- t(0.975, n-1) * s / sqrt(n), s the
sample (n-1) standard deviation: seeds are few, so the normal 1.96 would
claim too much. scipy.stats computes it.
"""
import dataclasses
import math
from typing import Sequence

import numpy as np
from scipy import stats


@dataclasses.dataclass(frozen=True)
class Summary:
  n: int
  mean: float
  std: float       # Sample standard deviation (ddof=1); nan for n < 2.
  ci_low: float    # 95% t-interval; nan for n < 2.
  ci_high: float

  @property
  def half_width(self) -> float:
    return (self.ci_high - self.ci_low) / 2


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
  x = np.asarray([v for v in values if v is not None], np.float64)
  n = len(x)
  if n == 0:
    return Summary(0, math.nan, math.nan, math.nan, math.nan)
  mean = float(x.mean())
  if n < 2:
    return Summary(1, mean, math.nan, math.nan, math.nan)
  std = float(x.std(ddof=1))
  if std == 0:
    return Summary(n, mean, 0.0, mean, mean)
  low, high = stats.t.interval(confidence, df=n - 1, loc=mean,
                               scale=std / math.sqrt(n))
  return Summary(n, mean, std, float(low), float(high))


def paired_difference(a: Sequence[float], b: Sequence[float]) -> tuple[Summary, float]:
  """a - b over matched runs (same other settings and seed), and the
  two-sided paired t-test's p-value."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  summary = summarize(a - b)
  p = float(stats.ttest_rel(a, b).pvalue) if len(a) > 1 and summary.std > 0 else math.nan
  return summary, p


def steps_to_target(train_curve: dict[int, float], target: float) -> int | None:
  """First logged training step whose accuracy is >= target, or None."""
  for step in sorted(train_curve):
    if train_curve[step] >= target:
      return step
  return None
