"""A study as declared in a sweep file, and loading it (and its base config).

A sweep file is Python with `get_sweep()` (or `get_sweep(arg)`, given as
`--sweep=file.py:arg`) returning a `Sweep`:

    from lib import sweeps

    def get_sweep():
      return sweeps.Sweep(
          config='configs/cnn.py:digits',
          axes=sweeps.product({'model.activation': ['sigmoid', 'tanh', 'relu']},
                              sweeps.seeds(5)),
          fixed={'train.log_every_steps': 11})

`tune` makes a field (or several, as Axes) a tuned axis: every arm (point
of `axes` without the seed) is trained at each of its values, and the report
(lib/report/tuning.py) chooses each arm's value on validation data and
compares the arms at their chosen values and at the base config's value:

      tune=sweeps.axis('optimizer.learning_rate', [3e-4, 1e-3, 2e-3, 5e-3, 1e-2])
"""
import dataclasses
import importlib.util
import inspect
import os
from typing import Any

import ml_collections

from lib import errors
from lib.sweeps import axes as axes_lib
from lib.sweeps.axes import Axes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclasses.dataclass(frozen=True)
class Sweep:
  config: str                 # Base config file, optionally 'file.py:arg'.
  axes: Axes                  # What varies, one point per run.
  fixed: dict[str, Any] = dataclasses.field(default_factory=dict)  # Set for every run.
  # Runs that differ only in seed train as one vmapped program when the data
  # pipeline allows it (see lib/multi_seed.py); False: one run per task.
  vmap_seeds: bool = True
  # Tuned per arm on validation data (see the top); None: nothing tuned.
  tune: Axes | None = None

  def __post_init__(self):
    if self.tune is not None and not isinstance(self.tune, Axes):
      object.__setattr__(self, 'tune', axes_lib.product(self.tune))  # {field: values}


def _import_file(path: str, what: str):
  if not os.path.isfile(path):
    raise errors.UserError(f'{what} {path!r} does not exist')
  name = '_sweep_' + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def load(path: str) -> Sweep:
  """Imports a sweep file and returns its `get_sweep()`; `file.py:ARG` passes
  ARG to a file whose `get_sweep(arg)` takes one (configs/sweeps/ablation.py
  names a dataset and a factor so)."""
  file, arg = path, None
  if not os.path.isfile(path) and ':' in os.path.basename(path):
    file, arg = path.rsplit(':', 1)
  module = _import_file(file, 'sweep file')
  if not hasattr(module, 'get_sweep'):
    raise errors.UserError(f'sweep file {file!r} has no get_sweep() function')
  takes_arg = bool(inspect.signature(module.get_sweep).parameters)
  if arg is not None and not takes_arg:
    # Configs take `file.py:runlocal`; a study is shrunk by flags instead, so
    # that what changed is recorded in its plan and report.
    raise errors.UserError(
        f'--sweep={path!r}: this sweep file takes no argument after ":"; for a '
        'quick version of a study give --seeds=N and --set=FIELD=VALUE instead, '
        'e.g. --seeds=2 --set=train.num_epochs=2')
  if takes_arg:
    try:
      sweep = module.get_sweep(arg)
    except ValueError as e:  # The file refusing its argument says what it takes.
      raise errors.UserError(f'--sweep={path!r}: {e}') from None
  else:
    sweep = module.get_sweep()
  if not isinstance(sweep, Sweep):
    raise errors.UserError(
        f'get_sweep() in {file!r} must return lib.sweeps.Sweep, got '
        f'{type(sweep).__name__}')
  return sweep


def resolve_path(path: str, sweep_path: str) -> str:
  """A config path as given: absolute, from the cwd, the sweep file's
  directory, or the repository root (so studies work from any directory)."""
  if os.path.isabs(path):
    return path
  for base in (os.getcwd(), os.path.dirname(os.path.abspath(sweep_path)), REPO_ROOT):
    candidate = os.path.join(base, path)
    if os.path.exists(candidate):
      return os.path.abspath(candidate)
  return os.path.abspath(path)


def load_config(config_ref: str, sweep_path: str) -> ml_collections.ConfigDict:
  """The base config, as `--config=file.py:arg` would give it."""
  path, arg = config_ref, None
  if ':' in config_ref and config_ref.rsplit(':', 1)[0].endswith('.py'):
    path, arg = config_ref.rsplit(':', 1)
  module = _import_file(resolve_path(path, sweep_path), 'base config')
  config = module.get_config(arg) if arg is not None else module.get_config()
  return config
