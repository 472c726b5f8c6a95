"""What every entry point shares: flag parsing and bad input as one line.

Bad flags, config overrides and `UserError`s end the program with
`error: <what is wrong and how to fix it>` on stderr and exit status 2,
instead of a traceback.
"""
import difflib
import os
import re
import sys
from typing import Callable, NoReturn

from absl import app, flags, logging

from lib import errors


def fail(message: str) -> NoReturn:
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def _one_line(e: BaseException) -> str:
  """The informative line of an exception whose text may hold a traceback."""
  text = str(e.args[0]) if len(e.args) == 1 else str(e)
  if len(text) > 1 and text[0] == text[-1] and text[0] in '\'"':
    text = text[1:-1]  # repr()-quoted, as KeyError messages are.
  text = text.replace('\\n', '\n').replace("\\'", "'")
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  errno = [line for line in lines if line.startswith('[Errno')]
  if errno:  # A config file that cannot be read.
    return errno[-1]
  if any(line.startswith('Traceback') for line in lines):
    # A config file that raised: its exception line; a ValueError is the
    # config refusing its argument, whose message says what to give.
    return lines[-1].removeprefix('ValueError: ')
  return ' '.join(lines)


_HELP = {'help', 'helpshort', 'helpfull', 'helpxml', '?', 'h'}


def _config_arg(argv: list[str]) -> str | None:
  """The value of --config (PATH or PATH:ARG), if given."""
  for i, arg in enumerate(argv[1:], 1):
    if arg.startswith('--config='):
      return arg.split('=', 1)[1]
    if arg == '--config' and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _missing_config_file(argv: list[str]) -> str | None:
  """The error for a --config file that is not there: it lists the configs."""
  value = _config_arg(argv)
  if value is None or 'config' not in flags.FLAGS:
    return None
  path = value.split(':', 1)[0]
  if os.path.isfile(path):
    return None
  folder = os.path.dirname(path) or '.'
  if not os.path.isdir(folder):
    folder = 'configs'
  configs = []
  for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
    try:
      with open(os.path.join(folder, name)) as f:
        text = f.read()
    except OSError:
      continue
    if name.endswith('.py') and 'def get_config' in text:
      # A model's file takes its dataset after ':' (configs/cnn.py:digits):
      # the ones its docstring runs.
      datasets = re.findall(rf'--config=\S*\b{re.escape(name)}:([a-z0-9_]+)', text)
      configs += [f'{name}:{d}' for d in dict.fromkeys(datasets)] or [name]
  listed = (f"the configs in {folder}/: {', '.join(configs)}" if configs
            else f'{folder}/ holds no config (a .py file with get_config)')
  return f'config file {path} does not exist; {listed}'


def _unknown_config_field(argv: list[str]) -> str | None:
  """The error for a `--config.a.b=v` whose path the config does not have:
  the dotted path and the closest field that is there."""
  from ml_collections import ConfigDict  # pylint: disable=g-import-not-at-top
  from ml_collections.config_flags import config_flags  # pylint: disable=g-import-not-at-top
  value = _config_arg(argv)
  if value is None:
    return None
  try:
    config = config_flags.ConfigFileFlagParser('config').parse(value)
  except Exception:  # pylint: disable=broad-except
    return None  # Reported as it is.
  for arg in argv[1:]:
    match = re.match(r'--config\.([^=]+)(=(.*))?$', arg)
    if not match:
      continue
    parts, node = match.group(1).split('.'), config
    for i, part in enumerate(parts):
      if not isinstance(node, ConfigDict):
        break
      if part in node:
        node = node[part]
        continue
      parent = '.'.join(parts[:i])
      prefix = parent + '.' if parent else ''
      close = difflib.get_close_matches(part, list(node.keys()), n=1)
      if close:
        meant = '.'.join(parts[:i] + close + parts[i + 1:])
        fix = f'--config.{meant}' + (f'={match.group(3)}' if match.group(2) else '')
        return (f"unknown config field '{'.'.join(parts)}'; did you mean "
                f"'{meant}' ({fix})?")
      return (f"unknown config field '{prefix}{part}'; the fields of "
              f"{parent or 'the config'}: {', '.join(sorted(node.keys()))}")
  return None


def _parse_flags(argv: list[str]) -> list[str]:
  if (missing := _missing_config_file(argv)) is not None:
    fail(missing)
  try:
    return flags.FLAGS(argv)
  except SystemExit as e:
    # absl's help flags print the usage and exit 1; asking for help is no error.
    if e.code == 1 and any(a.lstrip('-').split('=')[0] in _HELP for a in argv[1:]):
      sys.exit(0)
    raise
  # ml_collections reports an unknown `--config.x` key as AttributeError
  # and a wrongly typed value as TypeError/ValueError.
  except AttributeError as e:
    fail(_unknown_config_field(argv) or f'unknown config field {_one_line(e)}')
  except (flags.Error, KeyError, TypeError, ValueError) as e:
    fail(_unknown_config_field(argv) or _one_line(e))
  except OSError as e:  # A config file that cannot be read, with overrides.
    fail(_one_line(e))


def run(main: Callable[[list[str]], None]) -> None:
  """absl's app.run with our flag errors and UserError handling."""

  def wrapped(argv):
    if len(argv) > 1:
      fail(f'unexpected arguments: {" ".join(argv[1:])}')
    if not flags.FLAGS['verbosity'].present:
      logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO.
    try:
      main(argv)
    except errors.UserError as e:
      fail(str(e))
    except errors.Diverged as e:
      print(f'error: {e}', file=sys.stderr)
      sys.exit(3)
    except (OSError, ValueError, RuntimeError) as e:
      # config_flags defers a config file's load failure to first use.
      if isinstance(e, OSError) and 'config file' in str(e):
        fail(_one_line(e))
      if (storage := errors.storage_error(e)) is None:
        raise
      fail(str(storage))  # A full disk or a read-only workdir: one line.

  app.run(wrapped, flags_parser=_parse_flags)


SLURM_RESOURCE_FLAGS = ('partition', 'time', 'cpus', 'gpus', 'mem')


def define_slurm_resource_flags(unit: str) -> Callable[[], object]:
  """--partition, --time, --cpus, --gpus and --mem: what each SLURM `unit`
  ('task' of a study's array, 'node' of a run) asks for. Returns a function
  giving them as lib.sweeps.slurm.Resources once flags are parsed."""
  partition = flags.DEFINE_string('partition', '', 'SLURM partition.')
  time_limit = flags.DEFINE_string('time', '', f'SLURM time limit per {unit}, '
                                   'HH:MM:SS.')
  cpus = flags.DEFINE_integer('cpus', 1, 'CPUs per process.')
  gpus = flags.DEFINE_integer('gpus', 0, f'GPUs per {unit}.')
  mem = flags.DEFINE_string('mem', '', f'Memory per {unit}, e.g. 8G.')

  def resources():
    from lib.sweeps import slurm  # pylint: disable=g-import-not-at-top
    return slurm.Resources(partition.value, time_limit.value, cpus.value,
                           gpus.value, mem.value)
  return resources


def define_imported_weights_flags(instead: str) -> tuple[flags.FlagHolder, ...]:
  """--init_from and --model, for entry points that also read a torchvision
  or timm checkpoint (lib/imported.py); `instead`: what the file replaces."""
  init_from = flags.DEFINE_string(
      'init_from', None, 'A torchvision or timm ImageNet checkpoint '
      f'(.safetensors, or .pth with torch installed), {instead}.')
  model = flags.DEFINE_string(
      'model', None, 'With --init_from: the zoo model (alexnet, resnet18, '
      "...); found from the file's tensors when not given.")
  return init_from, model
