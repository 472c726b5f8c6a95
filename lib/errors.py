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
