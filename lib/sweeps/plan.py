"""Expands a sweep into runs (validated, named, configured) and tasks.

Every run's config is built and type-checked here, so a field that does not
exist or a value of the wrong type stops the study before anything runs. A
task is what one process (or one SLURM array element) does: a single run, or
all seeds of one config trained together as one vmapped program.
"""
import copy
import dataclasses
import difflib
from typing import Any

import ml_collections

from lib import errors, models
from lib.sweeps import naming
from lib.sweeps.axes import SEED_FIELD
from lib.sweeps.spec import Sweep, load_config


@dataclasses.dataclass(frozen=True)
class RunSpec:
  name: str                        # 'activation=relu,pooling=max/seed=3'
  group: str                       # 'activation=relu,pooling=max'
  seed: int
  overrides: dict[str, Any]        # The swept fields' values (seed excluded).
  config: ml_collections.ConfigDict
  arm: str = ''                    # The group without tuned fields ('' = group).


@dataclasses.dataclass(frozen=True)
class Task:
  index: int
  group: str
  runs: tuple[RunSpec, ...]
  vmapped: bool                    # All runs in one program (lib/multi_seed).

  @property
  def name(self) -> str:
    if len({r.group for r in self.runs}) > 1:  # A tuned arm: values x seeds.
      return f'{self.group} ({len(self.runs)} runs: tuned values x seeds)'
    if self.vmapped:
      return f"{self.group}/seed={','.join(str(r.seed) for r in self.runs)}"
    return self.runs[0].name


def _all_fields(config: ml_collections.ConfigDict, prefix: str = '') -> list[str]:
  out = []
  for k, v in config.items():
    out += (_all_fields(v, f'{prefix}{k}.') if isinstance(v, ml_collections.ConfigDict)
            else [f'{prefix}{k}'])
  return out


def _model_settings(model_config) -> dict[str, dataclasses.Field]:
  cls = models.MODELS.get(model_config.get('name'))
  if cls is None:
    return {}
  cls = getattr(cls, 'func', cls)  # The ResNet depths are partials.
  return {f.name: f for f in dataclasses.fields(cls)
          if f.name not in ('parent', 'name', 'num_outputs', 'dtype')}


def _unknown(field: str, config, config_ref: str) -> errors.UserError:
  close = difflib.get_close_matches(field, _all_fields(config), n=1)
  hint = f"; did you mean {close[0]!r}?" if close else ''
  return errors.UserError(
      f'sweep field {field!r} does not exist in {config_ref}{hint}')


def set_field(config: ml_collections.ConfigDict, field: str, value: Any,
              config_ref: str) -> None:
  """config[field] = value, refusing unknown fields and mistyped values."""
  *parents, last = field.split('.')
  node = config
  for key in parents:
    if not isinstance(node, ml_collections.ConfigDict) or key not in node:
      raise _unknown(field, config, config_ref)
    node = node[key]
  if not isinstance(node, ml_collections.ConfigDict):
    raise _unknown(field, config, config_ref)
  if last not in node:
    # A model setting the base config leaves at its default is still sweepable.
    setting = _model_settings(node).get(last) if parents == ['model'] else None
    if setting is None:
      raise _unknown(field, config, config_ref)
    if isinstance(setting.default, int | float | str) and not _same_kind(setting.default, value):
      raise _wrong_type(field, value, setting.default)
    with node.unlocked():
      node[last] = value
    return
  old = node[last]
  if isinstance(old, ml_collections.ConfigDict):
    raise errors.UserError(f'sweep field {field!r} is a group of fields; sweep '
                           f'one of them, e.g. {field}.{next(iter(old), "x")}')
  if old is not None and not _same_kind(old, value):
    raise _wrong_type(field, value, old)
  try:
    node[last] = value
  except (TypeError, ValueError):
    raise _wrong_type(field, value, old) from None


def _same_kind(old: Any, value: Any) -> bool:
  # ml_collections casts int -> float, but would also take True for 1.
  if isinstance(old, bool) or isinstance(value, bool):
    return isinstance(old, bool) and isinstance(value, bool)
  if isinstance(old, float):
    return isinstance(value, int | float)
  if isinstance(old, int | str):
    return type(value) is type(old)
  return True  # Tuples and the like: ml_collections checks these itself.


def _wrong_type(field: str, value: Any, old: Any) -> errors.UserError:
  return errors.UserError(
      f'sweep value {value!r} for {field!r} has the wrong type: '
      f'{type(value).__name__}, expected {type(old).__name__} (like {old!r})')


def _tuned_points(sweep: Sweep, base: ml_collections.ConfigDict) -> list[dict]:
  """The tuned axis' points ([{}] if none), checked: tuning needs validation
  data to choose on, and the base value, for the comparison at one shared
  setting."""
  if sweep.tune is None:
    return [{}]
  if SEED_FIELD in sweep.tune.fields:
    raise errors.UserError('sweep: the seed cannot be tuned; use sweeps.seeds(n) in axes')
  if not (base.data.validation_fraction or base.data.validation_split):
    raise errors.UserError(
        f"sweep: tuning {', '.join(sweep.tune.fields)} chooses on validation "
        f"data, and {sweep.config} has none; set data.validation_fraction "
        "(e.g. fixed={'data.validation_fraction': 0.1}) or data.validation_split")
  for point in sweep.tune.points:  # Types and names, as for any axis.
    for field, value in point.items():
      set_field(copy.deepcopy(base), field, value, sweep.config)
  shared = {f: _get(base, f) for f in sweep.tune.fields}
  if shared not in [dict(p) for p in sweep.tune.points]:
    raise errors.UserError(
        f'sweep: the tuned values must include the base config\'s {shared} '
        '(the arms are also compared at that shared setting); add it')
  return list(sweep.tune.points)


def _get(config: ml_collections.ConfigDict, field: str):
  for part in field.split('.'):
    config = config[part]
  return config


def shared_point(sweep: Sweep, sweep_path: str) -> dict:
  """The base config's values of the tuned fields."""
  base = load_config(sweep.config, sweep_path)
  for field, value in sweep.fixed.items():
    set_field(base, field, value, sweep.config)
  return {f: _get(base, f) for f in sweep.tune.fields} if sweep.tune else {}


def expand(sweep: Sweep, sweep_path: str) -> list[RunSpec]:
  """All runs of the study, each with its resolved and locked config."""
  base = load_config(sweep.config, sweep_path)
  tuned_fields = sweep.tune.fields if sweep.tune else ()
  # A tuned field may be fixed too: that sets its shared (base) value.
  both = sorted(set(sweep.axes.fields) & set(sweep.fixed))
  if both:
    raise errors.UserError(f'sweep field {both[0]!r} is both swept and fixed')
  if clash := sorted(set(sweep.axes.fields) & set(tuned_fields)):
    raise errors.UserError(f'sweep field {clash[0]!r} is both swept and tuned')
  for field, value in sweep.fixed.items():
    set_field(base, field, value, sweep.config)
  tuned_points = _tuned_points(sweep, base)
  base.lock()
  arm_fields = [f for f in sweep.axes.fields if f != SEED_FIELD]
  keys = naming.short_keys(arm_fields + list(tuned_fields))
  runs, seen = [], {}
  points = [{**point, **t} for point in sweep.axes.points for t in tuned_points]
  for point in points:
    # Resolved after the point's values are set, so that fields computed from
    # others (the ImageNet configs' learning rate from the batch size,
    # configs/common.py scale_lr_with_batch) follow a swept value.
    config = copy.deepcopy(base)
    for field, value in point.items():
      set_field(config, field, value, sweep.config)
    config = config.copy_and_resolve_references()
    config.lock()
    overrides = {f: v for f, v in point.items() if f != SEED_FIELD}
    group = naming.group_name(overrides, keys)
    arm = naming.group_name({f: v for f, v in overrides.items()
                             if f not in tuned_fields}, keys)
    name = naming.run_name(group, config.seed)
    if name in seen:
      raise errors.UserError(
          f'sweep points {seen[name]} and {point} both give the run name '
          f'{name!r}; make the values distinct')
    seen[name] = point
    runs.append(RunSpec(name, group, config.seed, overrides, config, arm))
  return runs


def vmappable(config: ml_collections.ConfigDict) -> bool:
  """lib/multi_seed trains seeds jointly only from the on-device pipeline."""
  return config.data.pipeline == 'device'


def make_tasks(runs: list[RunSpec], vmap_seeds: bool = True,
               tuned: bool = False) -> list[Task]:
  """One task per group of seeds (vmapped) where possible, else per run; in
  a tuned study, one task per arm (all its values and seeds: one program
  where only the learning rate differs, lib/multi_seed.py)."""
  groups: dict[str, list[RunSpec]] = {}
  for r in runs:
    groups.setdefault(r.arm if tuned else r.group, []).append(r)
  if tuned:
    return [Task(i, arm, tuple(members), vmap_seeds and vmappable(members[0].config))
            for i, (arm, members) in enumerate(groups.items())]
  tasks = []
  for group, members in groups.items():
    if vmap_seeds and len(members) > 1 and vmappable(members[0].config):
      tasks.append(Task(len(tasks), group, tuple(members), True))
    else:
      tasks += [Task(len(tasks) + i, group, (r,), False)
                for i, r in enumerate(members)]
  return tasks
