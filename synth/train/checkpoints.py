"""Orbax checkpoints: the training state plus the data iterator, saved together.

Each step directory holds two items: 'state' (the train state dict, saved asynchronously, one
shard per device) and 'data' (each process's grain iterator position as JSON). Orbax writes a step
to a temporary directory and renames it when complete, so a process killed mid-save leaves only
complete checkpoints behind (the partial one is cleaned up at the next start).

Retention: the latest `keep` checkpoints, plus the `keep_best` best by an eval metric (only steps
saved with metrics compete), so a long run keeps its best model without keeping everything.
"""

import logging
import os
import sys

import grain
import jax
import orbax.checkpoint as ocp
from etils import epath
from orbax.checkpoint import checkpoint_managers as policies

from synth.run_files import is_remote

STATE, DATA = "state", "data"


class Checkpoints:
  """Save/restore of (train state, data iterator) under <workdir>/checkpoints."""

  def __init__(self, workdir: str, *, keep: int = 3, keep_best: int = 1,
               best_metric: str = "loss", best_mode: str = "min", async_save: bool = True,
               read_only: bool = False):
    """read_only: for evaluation; nothing is created, saved or deleted (and a missing
    checkpoints directory is a CheckpointError)."""
    if best_mode not in ("min", "max"):
      raise ValueError(f"train.best_mode must be 'min' or 'max', got '{best_mode}'")
    keep_policies = [policies.LatestN(n=max(keep, 1))]
    if keep_best > 0:
      keep_policies.append(policies.BestN(
          get_metric_fn=lambda metrics: metrics[best_metric], reverse=best_mode == "min",
          n=keep_best, keep_checkpoints_without_metrics=False))
    options = ocp.CheckpointManagerOptions(
        preservation_policy=policies.AnyPreservationPolicy(keep_policies),
        enable_async_checkpointing=async_save and not read_only,
        cleanup_tmp_directories=not read_only, create=not read_only, read_only=read_only)
    self.directory = absolute(epath.Path(workdir) / "checkpoints")
    if read_only and not self.directory.is_dir():
      raise CheckpointError(f"no checkpoint in {self.directory}")
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_names=(STATE, DATA))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def save(self, step: int, state, data_iterator, metrics: dict | None = None):
    """Starts an asynchronous save of `state` and the iterator position at `step`."""
    self.manager.save(step, args=ocp.args.Composite(**{
        STATE: ocp.args.StandardSave(state),
        DATA: grain.checkpoint.CheckpointSave(data_iterator),
    }), metrics=metrics, force=True)

  def saved_process_count(self, step: int) -> int | None:
    """How many processes saved the data positions of `step` (grain writes one
    process_<i>-of-<n>.json per process); None if the step has no data item."""
    names = [p.name for p in (self.directory / str(step) / DATA).glob("process_*-of-*.json")]
    counts = {int(n.rsplit("-of-", 1)[1].removesuffix(".json")) for n in names}
    return max(counts) if counts else None

  def restore(self, step: int, abstract_state, data_iterator=None):
    """Restores the state into the shardings of `abstract_state` (any mesh) and, if given, the
    iterator position in place. Returns the state.

    The state restores onto any number of processes, the iterator positions only onto as many
    processes as saved them (each process reads its own shard of the data).
    """
    items = {STATE: ocp.args.StandardRestore(abstract_state)}
    if data_iterator is not None:
      saved = self.saved_process_count(step)
      if saved is not None and saved != jax.process_count():
        raise CheckpointError(
            f"checkpoint step {step} in {self.directory} holds the data positions of {saved} "
            f"processes, but {jax.process_count()} are running: resume on {saved} processes, or "
            f"set train.reset_data_on_resume=True to restore the model and optimizer and restart "
            f"the input pipeline from its beginning")
      items[DATA] = grain.checkpoint.CheckpointRestore(data_iterator)
    try:
      restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    except Exception as e:  # Orbax, tensorstore and grain each raise their own kinds.
      _ECHOES.add(str(self.directory / str(step)))
      raise UnreadableCheckpointError(step, self.directory, e) from e
    return restored[STATE]

  def set_aside(self, step: int) -> epath.Path:
    """Renames an unreadable step directory to <step>.corrupt (kept for inspection, ignored by
    Orbax) so that the step can be saved again; returns the new path."""
    source = self.directory / str(step)
    target = self.directory / f"{step}.corrupt"
    n = 1
    while target.exists():
      n += 1
      target = self.directory / f"{step}.corrupt{n}"
    source.rename(target)
    self.manager.reload()
    return target

  def reached_preemption(self, step: int) -> bool:
    """True on every process once any process has received a preemption notice (TPU/GKE)."""
    return self.manager.reached_preemption(step)

  def wait(self):
    self.manager.wait_until_finished()

  def close(self):
    self.manager.close()


class _EchoesOfFailedReads(logging.Filter):
  """Silences the echoes of a checkpoint read that already failed, and nothing else.

  Orbax reads a checkpoint's arrays concurrently: with a damaged file, each read that fails
  after the first is reported on its own when its task is collected, often only at exit
  (asyncio's "Task exception was never retrieved", or "Exception ignored in: <coroutine>"), a
  page of traceback each for the one error the restore already raised. Once a step directory
  failed to restore, reports that name that directory are dropped; every other report passes.
  """

  def __init__(self):
    super().__init__()
    self.directories: set[str] = set()
    self._hook = None

  def add(self, directory: str) -> None:
    if self._hook is None:
      logging.getLogger("asyncio").addFilter(self)
      self._hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
    self.directories.add(directory)

  def _mentions(self, *parts) -> bool:
    text = " ".join(str(p) for p in parts)
    return any(d in text for d in self.directories)

  def filter(self, record) -> bool:
    error = record.exc_info[1] if record.exc_info else None
    return not self._mentions(record.getMessage(), error, error and error.__cause__)

  def _unraisable(self, unraisable) -> None:
    error = unraisable.exc_value
    if not self._mentions(error, error and error.__cause__):
      self._hook(unraisable)


_ECHOES = _EchoesOfFailedReads()


def absolute(path) -> epath.Path:
  """`path` made absolute if it is local: Orbax refuses relative checkpoint paths, and only
  inside its background save thread, after training has moved on (`--workdir=workdirs/run`)."""
  return epath.Path(path if is_remote(path) else os.path.abspath(path))


class CheckpointError(RuntimeError):
  """A checkpoint is missing, incomplete or does not match the model."""


class UnreadableCheckpointError(CheckpointError):
  """A checkpoint step exists but does not restore: a damaged file, or a model it does not fit."""

  def __init__(self, step: int, directory, cause: BaseException):
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    first = first.split(". See full TensorStore details")[0]  # then a page of its spec
    self.step, self.reason = step, f"{type(cause).__name__}: {first[:300]}"
    super().__init__(f"cannot restore checkpoint step {step} from {directory}: {self.reason}")


def find_state_dir(path: str) -> epath.Path:
  """Resolves `path` (a workdir, its checkpoints dir, or one step dir) to a 'state' item dir."""
  path = absolute(path)
  candidates = [path / STATE, path]
  for root in (path / "checkpoints", path):
    if root.is_dir():
      steps = sorted((int(p.name) for p in root.iterdir() if p.name.isdigit()), reverse=True)
      candidates += [root / str(s) / STATE for s in steps]
  for c in candidates:
    if (c / "_METADATA").exists() or (c / "_sharding").exists() or (c / "manifest.ocdbt").exists():
      return c
  raise CheckpointError(f"no checkpoint found at {path} (expected a workdir, its checkpoints/ "
                        f"directory, or a step directory)")


def restore_params(path: str, abstract_params):
  """Restores only the trainable params from another run's checkpoint (for fine-tuning).

  Every parameter of this model must exist in the checkpoint with the same shape; otherwise the
  error lists each missing or mismatched name with both shapes.
  """
  state_dir = find_state_dir(path)
  checkpointer = ocp.PyTreeCheckpointer()
  saved = checkpointer.metadata(state_dir).item_metadata.tree
  if "params" not in saved:
    raise CheckpointError(f"checkpoint {state_dir} has no 'params'")
  saved_shapes = {_name(p): tuple(m.shape) for p, m in
                  jax.tree_util.tree_flatten_with_path(saved["params"])[0]}
  problems = []
  for p, a in jax.tree_util.tree_flatten_with_path(abstract_params)[0]:
    name = _name(p)
    if name not in saved_shapes:
      problems.append(f"{name}: missing in checkpoint (model has {tuple(a.shape)})")
    elif saved_shapes[name] != tuple(a.shape):
      problems.append(f"{name}: checkpoint {saved_shapes[name]} vs model {tuple(a.shape)}")
  if problems:
    raise CheckpointError(f"init_from {state_dir} does not match the model: "
                          + "; ".join(problems))
  target = {"params": abstract_params}
  restored = checkpointer.restore(state_dir, args=ocp.args.PyTreeRestore(
      item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
      partial_restore=True))
  return restored["params"]


def _name(path) -> str:
  return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


__all__ = ["CheckpointError", "Checkpoints", "find_state_dir", "restore_params"]
