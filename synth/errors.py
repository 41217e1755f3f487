"""What a failure looks like on the command line: one `synth: error:` line, and its exit status.

A failure deep in a library (a full disk under Orbax's save threads, a damaged checkpoint under
tensorstore) arrives wrapped in several exceptions and echoed by many threads. error_line finds
the line a user can act on; exit_code tells an input to fix (2) from a run that failed (1);
LibraryEchoes keeps the libraries' own reports of the same failure from burying that line.
"""
import errno
import logging
import os
import re
import sys

from absl import logging as absl_logging

# Set to show the Python traceback of a failure instead of its one `synth: error:` line.
TRACEBACK_ENV = "SYNTH_TRACEBACK"


class LibraryEchoes(logging.Filter):
  """Keeps a failure one line when libraries report it many times over.

  When a save fails (a full disk), each of Orbax's worker threads logs the error with its
  traceback, and asyncio reports every task it could no longer run: hundreds of lines before
  the one that says what happened. Outside SYNTH_TRACEBACK=1, a library's error log keeps its
  first line and loses its traceback, and the reports Python itself calls "Exception ignored"
  are counted into the final error line instead of printed.
  """

  def __init__(self):
    super().__init__()
    self.count = 0

  def install(self) -> None:
    for handler in logging.getLogger().handlers + [absl_logging.get_absl_handler()]:
      handler.addFilter(self)
    sys.unraisablehook = self._unraisable

  def filter(self, record) -> bool:
    if record.levelno >= logging.ERROR and not record.name.startswith("synth"):
      record.msg, record.args = record.getMessage().splitlines()[0] if record.msg else "", ()
      record.exc_info = record.exc_text = record.stack_info = None
    return True

  def _unraisable(self, unraisable) -> None:
    del unraisable
    self.count += 1


LIBRARY_ECHOES = LibraryEchoes()


def error_line(error: BaseException, expected: bool = False) -> str:
  """One line for a failure: its own message, or for an OS-level cause buried in a chain of
  library exceptions (a full disk under Orbax's save threads) that cause itself. An unexpected
  failure (not `expected`, not a usage error) is named by its type, with how to see more."""
  chain = _chain(error)
  storage = _storage_error(chain)
  if storage:
    return (f"{storage}; a checkpoint being written when it happened is discarded, the ones "
            f"before it are intact")
  first = chain[0]
  text = (str(first).strip().splitlines() or [""])[0]
  if expected or isinstance(first, _USAGE_ERRORS):
    return text or type(first).__name__
  return f"{type(first).__name__}: {text} ({TRACEBACK_ENV}=1 shows the traceback)"


# Failures of the storage under a run, reported as themselves however deep in a library's
# exceptions they sit: disk full, quota exceeded, read-only file system, I/O error.
_STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)
# Failures that mean "fix the input" (exit status 2); anything else is a failed run (1).
_USAGE_ERRORS = (ValueError, FileNotFoundError, LookupError)


def _chain(error: BaseException) -> list[BaseException]:
  """The exception and what led to it, outermost first (a `from None` ends the chain)."""
  chain, seen = [], set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    chain.append(error)
    error = error.__cause__ if error.__cause__ is not None else (
        None if error.__suppress_context__ else error.__context__)
  return chain


def _storage_error(chain: list[BaseException]) -> str | None:
  """'No space left on device: PATH' for a storage failure anywhere in `chain`: an OSError, or
  the errno that tensorstore (under Orbax) writes into its own message; None otherwise."""
  for e in reversed(chain):
    if isinstance(e, OSError) and e.errno in _STORAGE_ERRNOS:
      return f"{e.strerror or os.strerror(e.errno)}" + (f": {e.filename}" if e.filename else "")
    code = re.search(r"os_error_code='(\d+)'", str(e))
    if code and int(code.group(1)) in _STORAGE_ERRNOS:
      path = re.search(r'Failed writing: "([^"]+)"', str(e))
      return os.strerror(int(code.group(1))) + (f": {path.group(1)}" if path else "")
  return None


def is_storage_failure(error: BaseException) -> bool:
  """A full disk, a quota, a read-only file system or an I/O error, anywhere in the chain."""
  return _storage_error(_chain(error)) is not None


def exit_code(error: BaseException) -> int:
  """2 for an input to fix, 1 for a run that failed (storage included)."""
  if _storage_error(_chain(error)):
    return 1
  return 2 if isinstance(error, _USAGE_ERRORS) else 1
