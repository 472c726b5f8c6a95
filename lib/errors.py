"""The one exception type that means "the user asked for something we cannot do"."""


class UserError(Exception):
  """Bad input. Its message is one line that says what is wrong and how to fix it.

  Entry points catch it, print `error: <message>` and exit with status 2, before
  anything is written to the run directory.
  """


def unknown_name(kind: str, name: str, valid) -> UserError:
  return UserError(
      f"unknown {kind} {name!r}; valid names: {', '.join(sorted(valid))}")


class Diverged(Exception):
  """The loss became NaN or Inf. Entry points exit with status 3."""


# errno values that mean the storage refused, not that our code is wrong.
_STORAGE_ERRNOS = {28: 'no space left on device', 122: 'disk quota exceeded',
                   30: 'read-only file system', 13: 'permission denied',
                   1: 'operation not permitted'}
# tensorstore (Orbax's writer) reports them as ValueError text.
_STORAGE_TEXTS = {'No space left on device': 28, "os_error_code='28'": 28,
                  'Disk quota exceeded': 122, 'Read-only file system': 30,
                  'Permission denied': 13}


def storage_problem(e: BaseException) -> tuple[int, str] | None:
  """(errno, what) if `e` is the file system refusing a read or write."""
  for exc in (e, e.__cause__, e.__context__):
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
      where = f' ({exc.filename})' if exc.filename else ''
      return exc.errno, _STORAGE_ERRNOS[exc.errno] + where
    if isinstance(exc, (OSError, ValueError, RuntimeError)):
      text = str(exc)
      for needle, errno in _STORAGE_TEXTS.items():
        if needle in text:
          return errno, _STORAGE_ERRNOS[errno]
  return None


def storage_error(e: BaseException, context: str = '') -> 'UserError | None':
  """The one-line UserError for a storage refusal, or None if `e` is not one."""
  problem = storage_problem(e)
  if problem is None:
    return None
  errno, what = problem
  fix = {28: 'free some space', 122: 'free some space',
         30: 'use a writable --workdir', 13: 'fix the permissions '
         '(chmod -R u+rwX) or use another --workdir',
         1: 'fix the permissions or use another --workdir'}[errno]
  return UserError(f'the file system refused: {what}; {fix}'
                   + (f'; {context}' if context else ''))
