"""A resumed run goes on with the config it started with, or says what changed.

Resuming with another learning rate, schedule, optimizer, seed or dataset
would silently splice two different runs into one set of results. So a run
with a checkpoint to resume compares the config it is given with its
config.json: any difference in a field that changes what is trained is one
error listing the fields, unless the user continues on purpose
(--allow_config_change), and then config.json keeps the history: which
fields changed, from what to what, at which step.
"""
import json
import os
import time

from lib import errors, provenance

CONFIG_FILE = 'config.json'
HISTORY_KEY = 'config_changes'

# Fields that change how a run is logged, checkpointed, read or computed
# (exactly, up to float rounding), not what it learns.
HARMLESS = frozenset({
    # data.worker_count too: the grain iterator resumes at the step, with
    # any number of workers (lib/data/pipeline.py TrainBatches).
    'data.data_dir', 'data.prefetch_batches', 'data.worker_count',
    'data.read_threads', 'train.log_every_steps', 'train.eval_every_epochs',
    'train.checkpoint_every_steps', 'train.checkpoint_every_minutes',
    'train.keep_checkpoints',
    'train.fast_cpu_gradients',
})


def _flat(tree: dict, prefix: str = '') -> dict:
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f'{prefix}{key}.'))
    else:
      out[f'{prefix}{key}'] = value
  return out


def read(workdir: str) -> dict | None:
  """The saved config.json (with its history), or None if there is none."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      return json.load(f)
  except ValueError as e:
    raise errors.UserError(f'{path} is not valid JSON ({e}); restore it from '
                           'the run\'s results or use another --workdir') from None


def changes(saved: dict, config: dict) -> dict[str, list]:
  """{dotted field: [saved value, new value]} for the fields that differ and
  change training. Fields that only one side has (a run made before the field
  existed) are not compared."""
  config = json.loads(json.dumps(config))  # Tuples as lists, as saved.
  old = _flat({k: v for k, v in saved.items() if k != HISTORY_KEY})
  new = _flat(config)
  return {k: [old[k], new[k]] for k in sorted(old.keys() & new.keys())
          if old[k] != new[k] and k not in HARMLESS}


def check(workdir: str, config: dict, allow: bool) -> tuple[list, dict]:
  """(the saved history, this start's changes) of a run about to resume.

  Raises UserError listing the fields when the config changes training and
  `allow` is False.
  """
  saved = read(workdir)
  if saved is None:
    return [], {}
  _check_same_fields(workdir, saved, config)
  diff = changes(saved, config)
  if diff and not allow:
    listed = ', '.join(f'{k} {old!r} -> {new!r}' for k, (old, new) in diff.items())
    raise errors.UserError(
        f'{os.path.abspath(workdir)} was trained with another config ({listed}); '
        'resuming would mix two runs: use a new --workdir, or pass '
        '--allow_config_change to continue with the new values on purpose '
        '(config.json then records the change)')
  return saved.get(HISTORY_KEY, []), diff


def _check_same_fields(workdir: str, saved: dict, config: dict) -> None:
  """A run made by a version of this code whose configs had other fields is
  resumed by that version, not by compatibility code in this one."""
  then = set(_flat({k: v for k, v in saved.items() if k != HISTORY_KEY}))
  now = set(_flat(json.loads(json.dumps(config))))
  if then == now:
    return
  made_by = (provenance.commits(workdir) or ['an earlier commit'])[-1]
  differing = sorted(then ^ now)
  listed = ', '.join(differing[:4]) + (', ...' if len(differing) > 4 else '')
  raise errors.UserError(
      f'{os.path.abspath(workdir)} was made by {made_by}, whose configs have '
      f'other fields ({listed}); resume it with that commit (git checkout '
      f'{made_by.split("+")[0]}) or start again with another --workdir')


def check_finished(workdir: str, config: dict) -> None:
  """A finished run asked for with other values is not that run, even on
  purpose: nothing would be trained with them."""
  saved = read(workdir)
  if saved is not None and (diff := changes(saved, config)):
    raise errors.UserError(
        f'{os.path.abspath(workdir)} finished with another config '
        f'({", ".join(f"{k} {o!r} -> {n!r}" for k, (o, n) in diff.items())}); '
        'its results are for those values: use a new --workdir')


def with_history(config: dict, history: list, step: int, diff: dict) -> dict:
  """The config as config.json stores it: with every change made on resume."""
  if diff:
    history = history + [{'step': step, 'time': time.strftime(
        '%Y-%m-%dT%H:%M:%S%z'), 'changed': diff}]
  return {**config, HISTORY_KEY: history} if history else config
