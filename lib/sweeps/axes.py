"""Declaring what a study varies: axes over dotted config fields, combined
with `product` and `zip`, plus `seeds(n)`.

An `Axes` is just the ordered list of points it spans; each point maps dotted
config fields ('model.activation', 'seed', ...) to values. Structural mistakes
(an empty axis, a field swept twice, zipped axes of unequal length) are
refused here, when the sweep file is loaded, before any run starts.
"""
import builtins
import dataclasses
import itertools
from typing import Any, Iterable, Mapping

from lib import errors

SEED_FIELD = 'seed'


@dataclasses.dataclass(frozen=True)
class Axes:
  fields: tuple[str, ...]
  points: tuple[dict[str, Any], ...]

  def __len__(self) -> int:
    return len(self.points)


def axis(field: str, values: Iterable[Any]) -> Axes:
  """One field taking each of `values` in turn."""
  if not isinstance(field, str) or not field or field.strip('.') != field:
    raise errors.UserError(f'sweep axis names a bad field {field!r}: use a '
                           f"dotted config field like 'model.activation'")
  if isinstance(values, str | bytes) or not isinstance(values, Iterable):
    raise errors.UserError(
        f'sweep axis {field!r} needs a list of values, got {values!r}')
  values = tuple(values)
  if not values:
    raise errors.UserError(
        f'sweep axis {field!r} is empty: give it at least one value')
  return Axes((field,), tuple({field: v} for v in values))


def seeds(n: int, start: int = 0) -> Axes:
  """Seeds start..start+n-1; runs that differ only in seed share a program."""
  if not isinstance(n, int) or n < 1:
    raise errors.UserError(f'seeds({n!r}): the number of seeds must be >= 1')
  return axis(SEED_FIELD, range(start, start + n))


def _as_axes(part: 'Axes | Mapping[str, Iterable[Any]]') -> Axes:
  """A dict {field: values} is shorthand for the product of its axes."""
  if isinstance(part, Axes):
    return part
  if isinstance(part, Mapping):
    if not part:
      raise errors.UserError('sweep: an empty dict of axes sweeps nothing')
    return product(*(axis(f, v) for f, v in part.items()))
  raise errors.UserError(
      f'sweep: expected an axis or a dict of field -> values, got {part!r}')


def _check_disjoint(parts: list[Axes]) -> tuple[str, ...]:
  fields: list[str] = []
  for p in parts:
    for f in p.fields:
      if f in fields:
        raise errors.UserError(f'sweep: field {f!r} is swept twice')
      fields.append(f)
  return tuple(fields)


def product(*parts: 'Axes | Mapping[str, Iterable[Any]]') -> Axes:
  """Every combination; the last part varies fastest."""
  axes = [_as_axes(p) for p in parts]
  if not axes:
    raise errors.UserError('sweep: product() needs at least one axis')
  fields = _check_disjoint(axes)
  points = tuple({k: v for point in combo for k, v in point.items()}
                 for combo in itertools.product(*(a.points for a in axes)))
  return Axes(fields, points)


def zip(*parts: 'Axes | Mapping[str, Iterable[Any]]') -> Axes:  # pylint: disable=redefined-builtin
  """Axes that move together: the i-th value of each, for every i."""
  axes = [_as_axes(p) for p in parts]
  if not axes:
    raise errors.UserError('sweep: zip() needs at least one axis')
  fields = _check_disjoint(axes)
  if len({len(a) for a in axes}) > 1:
    sizes = ', '.join(f"{'+'.join(a.fields)} has {len(a)}" for a in axes)
    raise errors.UserError(f'sweep: zip() needs axes of equal length; {sizes}')
  points = tuple({k: v for point in combo for k, v in point.items()}
                 for combo in builtins.zip(*(a.points for a in axes)))
  return Axes(fields, points)
