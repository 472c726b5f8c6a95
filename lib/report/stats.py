"""Statistics over seeds: mean, standard deviation, a 95% bootstrap interval
of the mean, paired tests and Holm's correction.

The interval of a mean over seeds is scipy.stats.bootstrap's (BCa,
percentile where BCa is undefined), resampled with a fixed generator so a report is
the same every time it is written. A bootstrap interval stays within the
values seen: an arm where 2 of 5 seeds collapsed to chance gets an interval
inside [0, 100] (the Student-t interval it replaced gave [-13.87, 102.03]%,
which says nothing). With few seeds it is also narrower than the t-interval
(it cannot see beyond the seeds it has): read it with n beside it, and with
the count of seeds at chance level that the tables print. Paired
differences keep the Student-t interval of their paired t-test.
"""
import dataclasses
import math
import warnings
from typing import Sequence

import numpy as np
from scipy import stats


@dataclasses.dataclass(frozen=True)
class Summary:
  n: int
  mean: float
  std: float       # Sample standard deviation (ddof=1); nan for n < 2.
  ci_low: float    # 95% bootstrap interval of the mean; nan for n < 2.
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
  low, high = bootstrap_interval(x, confidence)
  return Summary(n, mean, std, low, high)


BOOTSTRAP_RESAMPLES = 9999


def bootstrap_interval(x: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
  """The bootstrap interval of x's mean (BCa; percentile where BCa is
  undefined, e.g. two distinct values), the same on every call."""
  for method in ('BCa', 'percentile'):
    with warnings.catch_warnings():  # BCa's degenerate cases: the fallback handles them.
      warnings.simplefilter('ignore')
      ci = stats.bootstrap((x,), np.mean, confidence_level=confidence,
                           n_resamples=BOOTSTRAP_RESAMPLES, method=method,
                           rng=np.random.default_rng(0)).confidence_interval
    if not (math.isnan(ci.low) or math.isnan(ci.high)):
      break
  # Within the values seen, whatever the floating-point sums did.
  return max(float(ci.low), float(x.min())), min(float(ci.high), float(x.max()))


def paired_difference(a: Sequence[float], b: Sequence[float]) -> tuple[Summary, float]:
  """a - b over matched runs (same other settings and seed), with the
  Student-t interval of its mean, and the two-sided paired t-test's p-value.
  The interval is the test's own (it excludes 0 exactly when p < 0.05), so
  the table cannot say two things; a difference of accuracies is not bounded
  by [0, 100] the way an accuracy is."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  d = a - b
  summary = summarize(d)
  if summary.n >= 2 and summary.std > 0:
    low, high = stats.t.interval(0.95, df=summary.n - 1, loc=summary.mean,
                                 scale=summary.std / math.sqrt(summary.n))
    summary = dataclasses.replace(summary, ci_low=float(low), ci_high=float(high))
  p = float(stats.ttest_rel(a, b).pvalue) if len(a) > 1 and summary.std > 0 else math.nan
  return summary, p


def steps_to_target(train_curve: dict[int, float], target: float) -> int | None:
  """First logged training step whose accuracy is >= target, or None."""
  for step in sorted(train_curve):
    if train_curve[step] >= target:
      return step
  return None


def holm(p_values: Sequence[float]) -> list[float]:
  """Holm's step-down adjusted p-values (family-wise error over all of
  them); nan stays nan. scipy's false_discovery_control
  does Benjamini-Hochberg only, so this is written out: sort, scale the
  k-th smallest by (m - k), keep it monotone, cap at 1."""
  p = np.asarray(p_values, np.float64)
  valid = np.flatnonzero(~np.isnan(p))
  adjusted = np.full(len(p), math.nan)
  running = 0.0
  # A comparison without a p-value still counts in the family (as p = 1
  # would: it is sorted last), so the others are not corrected too little.
  for k, i in enumerate(valid[np.argsort(p[valid])]):
    running = max(running, min(1.0, (len(p) - k) * p[i]))
    adjusted[i] = running
  return adjusted.tolist()


def detectable_difference(diff_std: float, n: int, alpha: float = 0.05,
                          power: float = 0.8) -> float:
  """The smallest true mean difference a two-sided paired t-test over n
  pairs finds at `alpha` with probability `power`, if the differences
  spread as `diff_std`: (t(1-alpha/2) + t(power)) * s / sqrt(n), df = n-1
  (the usual approximation, ignoring non-centrality's skew)."""
  if n < 2 or math.isnan(diff_std) or diff_std == 0:
    return math.nan  # No spread: the t-test (and this) says nothing.
  t = stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1)
  return float(t * diff_std / math.sqrt(n))
