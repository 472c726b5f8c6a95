"""What every entry point shares: flag parsing and bad input as one line.

Bad flags, config overrides and `UserError`s end the program with
`error: <what is wrong and how to fix it>` on stderr and exit status 2,
instead of a traceback.
"""
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
    return lines[-1]  # A config file that raised: its exception line.
  return ' '.join(lines)


def _parse_flags(argv: list[str]) -> list[str]:
  try:
    return flags.FLAGS(argv)
  # ml_collections reports an unknown `--config.x` key as AttributeError
  # and a wrongly typed value as TypeError/ValueError.
  except AttributeError as e:
    fail(f'unknown config field {_one_line(e)}')
  except (flags.Error, KeyError, TypeError, ValueError) as e:
    fail(_one_line(e))
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
