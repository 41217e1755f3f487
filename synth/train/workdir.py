"""A run's workdir: checked before the first write, one trainer at a time, removed after a failed
start.

One trainer per workdir: an exclusive lock on <workdir>/train.lock while `synth train` runs.

Two trainers on one workdir would delete each other's in-progress checkpoints and interleave
metrics.jsonl. The lock is an flock(2) on the file, so the kernel releases it when the holder
exits or dies: a lock left by a killed process is never in the way (the file's text, the
holder's host, pid and start time, is then only history, and the next trainer says whose lock it
took over). flock works on local disks; on NFS, Linux maps it to POSIX locks, which work when
the server supports them. Object stores (gs://) have no locks: there nothing stops a second
trainer, so run one trainer per workdir (as `synth sweep` does). Only process 0 locks: the other
processes of a multi-host run write no run files.
"""
import datetime
import fcntl
import os
import socket

import jax
from etils import epath

from synth.parallel import batch_shards
from synth.run_files import is_remote
from synth.train.reporting import say

LOCK_NAME = "train.lock"


class WorkdirLockedError(RuntimeError):
  """Another trainer holds the workdir."""


class WorkdirLock:
  """Holds <workdir>/train.lock from acquire() until release() (or the process's exit)."""

  def __init__(self, workdir: str):
    self.path = os.path.join(os.fspath(workdir), LOCK_NAME)
    self._file = None

  def acquire(self) -> "WorkdirLock":
    if is_remote(self.path) or jax.process_index() != 0:
      return self
    f = open(self.path, "a+")
    try:
      fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or "another process"
      f.close()
      raise WorkdirLockedError(
          f"workdir {os.path.dirname(self.path)} is in use by {holder}: wait for that trainer to "
          f"finish or stop it (two trainers on one workdir overwrite each other's checkpoints)"
      ) from None
    f.seek(0)
    previous = f.read().strip()
    if previous:
      say("took over %s, left by %s (no longer running)", self.path, previous)
    f.seek(0)
    f.truncate()
    started = datetime.datetime.now().isoformat(timespec="seconds")
    f.write(f"pid {os.getpid()} on host {socket.gethostname()} since {started}\n")
    f.flush()
    self._file = f
    return self

  def release(self) -> None:
    """Unlocks and empties the file (an empty lock file means nobody holds the workdir)."""
    if self._file is None:
      return
    f, self._file = self._file, None
    try:
      f.truncate(0)
    finally:
      fcntl.flock(f.fileno(), fcntl.LOCK_UN)
      f.close()


# --------------------------------------------------------------------------------------------------
# Checks before the first write, and the clean-up after a failed start.
# --------------------------------------------------------------------------------------------------

class WorkdirError(ValueError):
  """The workdir cannot hold a run (a file is in the way, or it is not writable)."""


def prepare_workdir(workdir: str) -> bool:
  """Creates the workdir if needed; True if this call created it.

  A path that is a file, or a directory (or parent) this user cannot write, is a one-line
  WorkdirError before anything is written.
  """
  if is_remote(workdir):
    path = epath.Path(workdir)
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    return created
  path = os.path.abspath(os.fspath(workdir))
  if os.path.exists(path) and not os.path.isdir(path):
    raise WorkdirError(f"--workdir {workdir} is a file, not a directory: pass a directory path")
  existing = path
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.access(existing, os.W_OK | os.X_OK) or not os.path.isdir(existing):
    raise WorkdirError(f"cannot write to {existing}, so --workdir {workdir} cannot be "
                       f"{'used' if existing == path else 'created'}: choose a writable path")
  created = not os.path.exists(path)
  if jax.process_index() == 0:
    os.makedirs(path, exist_ok=True)
  return created


def remove_failed_start(workdir: str) -> None:
  """Removes a workdir that this start created and failed in: nothing is left behind."""
  if jax.process_index() == 0:
    path = epath.Path(workdir)
    if path.exists():
      path.rmtree()


def check_batch_sizes(config, sharding) -> None:
  """Each global batch must split evenly over the devices that share the batch dimension and
  over the processes that load it; checked here so that the error comes before any write."""
  shards = batch_shards(sharding)
  for field in ("batch_size", "eval_batch_size"):
    size = int(config.data[field])
    for count, what in ((shards, "devices the batch is split over (mesh data x fsdp)"),
                        (jax.process_count(), "processes")):
      if size % count:
        raise ValueError(
            f"data.{field}={size} is not divisible by the {count} {what}: use a multiple of "
            f"{count}, e.g. --config.data.{field}={max(count, size - size % count)}")
