"""Stable, filesystem-safe run names: 'activation=relu,dropout=0.25,pooling=max/seed=3'.

The part before '/' names the group (every run that differs only in seed);
it is also the group's directory, and 'seed=K' each run's directory in it.
Fields appear by their last dotted component, sorted, so the name does not
depend on the order axes were declared in.
"""
import re
from typing import Any

_UNSAFE = re.compile(r'[^A-Za-z0-9._+-]')
BASE_GROUP = 'base'  # The group name of a study that sweeps only seeds.


def format_value(value: Any) -> str:
  if isinstance(value, bool):
    return str(value).lower()
  if isinstance(value, list | tuple):
    return '-'.join(format_value(v) for v in value) or 'none'
  return _UNSAFE.sub('_', str(value)) or 'empty'


def short_keys(fields: list[str]) -> dict[str, str]:
  """Last dotted component, or the whole path where two would clash."""
  last = [f.rsplit('.', 1)[-1] for f in fields]
  return {f: (l if last.count(l) == 1 else f) for f, l in zip(fields, last)}


def group_name(overrides: dict[str, Any], keys: dict[str, str]) -> str:
  parts = sorted(f'{keys[f]}={format_value(v)}' for f, v in overrides.items())
  return ','.join(parts) or BASE_GROUP


def run_name(group: str, seed: int) -> str:
  return f'{group}/seed={seed}'
