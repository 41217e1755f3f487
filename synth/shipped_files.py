"""The config and experiment files that ship inside the package.

configs/ and experiments/ are part of the installed package (as synth/configs and
synth/experiments), so the README's `--config=configs/lm_python_docs.py` and `synth sweep
experiments/cpu_offline.py` work after a plain `pip install`, from any directory. A path that
exists where the command runs always wins, so a checkout's or a user's own files are used first.
"""
import importlib.resources
import os

SHIPPED_DIRS = ("configs", "experiments")


def shipped_root() -> str:
  """The directory that holds the package's configs/ and experiments/."""
  return str(importlib.resources.files("synth"))


def resolve(path: str) -> str:
  """`path` if it exists here, else the shipped file of that name (configs/x.py or
  experiments/x.py); anything else is returned unchanged, for the caller's own error."""
  if os.path.exists(path):
    return path
  parts = os.path.normpath(path).split(os.sep)
  if len(parts) == 2 and parts[0] in SHIPPED_DIRS:
    shipped = os.path.join(shipped_root(), *parts)
    if os.path.isfile(shipped):
      return shipped
  return path


def missing_message(kind: str, path: str) -> str:
  """One line for a config or experiment file that is neither here nor shipped."""
  return (f"{kind} file '{path}' does not exist (here, or among the package's own configs/ "
          f"and experiments/ in {shipped_root()})")
