"""A quick version of any study from the command line: `--seeds=N` and
`--set=field=value` (experiments/sweep.py).

    --seeds=2 --set=train.num_epochs=2

gives every arm seeds 0..1 (or the study's first seed onwards) and sets
train.num_epochs to 2 in every run, on top of the sweep file's `fixed`. What
was changed is kept in the plan (STUDY/sweep.json, 'command_line') and shown
at the top of the report, so a shrunk study is never mistaken for the one
shipped; a study directory is only resumed with the flags it was started
with (`check_same`).
"""
import ast
import dataclasses
import json
from typing import Any

from lib import errors
from lib.sweeps import axes as axes_lib
from lib.sweeps.axes import SEED_FIELD
from lib.sweeps.spec import Sweep

PLAN_KEY = 'command_line'


def parse_set(text: str) -> tuple[str, Any]:
  """'train.num_epochs=2' -> ('train.num_epochs', 2). Values are Python
  literals (2, 0.5, True, (16, 32), 'relu'); anything else is a string, so
  --set=model.activation=relu needs no quotes."""
  field, sep, raw = text.partition('=')
  field = field.strip()
  if not sep or not field or not raw.strip():
    raise errors.UserError(
        f'--set={text!r}: write --set=FIELD=VALUE with a dotted config field, '
        'e.g. --set=train.num_epochs=2')
  try:
    value = ast.literal_eval(raw.strip())
  except (ValueError, SyntaxError):
    value = raw.strip()
  if isinstance(value, list):
    value = tuple(value)  # Config sequences are tuples (model.features).
  return field, value


def parse_sets(texts: list[str] | None) -> dict[str, Any]:
  sets: dict[str, Any] = {}
  for text in texts or []:
    field, value = parse_set(text)
    if field in sets:
      raise errors.UserError(f'--set gives {field!r} twice; give it once')
    sets[field] = value
  return sets


def record(seeds: int | None, sets: dict[str, Any]) -> dict:
  """The plan's record of the flags; {} for the study as declared."""
  out = {}
  if seeds is not None:
    out['seeds'] = seeds
  if sets:
    out['set'] = dict(sets)
  return out


def flags_text(recorded: dict) -> str:
  """'--seeds=2 --set=train.num_epochs=2' for a plan's record."""
  parts = [f"--seeds={recorded['seeds']}"] if 'seeds' in recorded else []
  parts += [f'--set={f}={v!r}' if isinstance(v, str) else f'--set={f}={v}'
            for f, v in recorded.get('set', {}).items()]
  return ' '.join(parts) or 'none (the study as declared)'


def apply(sweep: Sweep, seeds: int | None, sets: dict[str, Any]) -> Sweep:
  """`sweep` with N seeds per arm and `sets` added to its fixed settings."""
  if seeds is not None:
    sweep = dataclasses.replace(sweep, axes=_with_seeds(sweep.axes, seeds))
  if sets:
    # A tuned field may be set: that is its shared value, which must stay
    # one of the tuned values (lib/sweeps/plan.py checks that).
    for field in sets:
      if field == SEED_FIELD:
        raise errors.UserError('--set=seed=...: use --seeds=N to choose how many seeds')
      if field in sweep.axes.fields:
        raise errors.UserError(
            f'--set={field}=...: {field!r} is swept by this study (its values: '
            f'{_values(sweep.axes, field)}); --set fixes fields the study does '
            'not sweep')
    sweep = dataclasses.replace(sweep, fixed={**sweep.fixed, **sets})
  return sweep


def _values(axes: axes_lib.Axes, field: str) -> str:
  return ', '.join(repr(v) for v in dict.fromkeys(p[field] for p in axes.points))


def _with_seeds(axes: axes_lib.Axes, n: int) -> axes_lib.Axes:
  """Every distinct point without the seed, times seeds start..start+n-1."""
  if not isinstance(n, int) or n < 1:
    raise errors.UserError(f'--seeds={n}: the number of seeds must be >= 1')
  seeds = [p[SEED_FIELD] for p in axes.points if SEED_FIELD in p]
  start = min(seeds) if seeds else 0
  rest = [f for f in axes.fields if f != SEED_FIELD]
  arms: dict[str, dict] = {}  # Keyed by JSON: values may be lists.
  for p in axes.points:
    arm = {f: p[f] for f in rest}
    arms.setdefault(json.dumps(arm, sort_keys=True, default=list), arm)
  points = tuple({**arm, SEED_FIELD: s}
                 for arm in arms.values() for s in range(start, start + n))
  return axes_lib.Axes(tuple(rest) + (SEED_FIELD,), points)


def check_same(saved_plan: dict | None, recorded: dict, study_dir: str) -> None:
  """A study directory is resumed only with the flags it was started with:
  finished runs are skipped by name, so other flags would mix runs of two
  different studies in one report."""
  if saved_plan is None:
    return
  saved = saved_plan.get(PLAN_KEY, {})
  if saved != json.loads(json.dumps(recorded, default=list)):  # As stored.
    raise errors.UserError(
        f'{study_dir} was started with --seeds/--set {flags_text(saved)}, not '
        f'{flags_text(recorded)}; give the same flags to resume it, or use a new '
        '--study_dir')
