"""Where a run stands, read from its workdir alone (local or gs://), without jax or Orbax.

A run is FINISHED when its last complete checkpoint is at num_steps and eval_results.jsonl has
a row for every split the table reads, for the checkpoint the task scores; TRAINED when only the
evaluation is missing; PARTIAL when it has checkpoints short of num_steps (`synth train` in the
same workdir resumes it); NEW otherwise.
"""
import enum

from etils import epath

from synth.run_files import read_jsonl
from synth.sweep.grid import RunPlan, is_url


class Status(enum.Enum):
  NEW = "new"
  PARTIAL = "partial"
  TRAINED = "trained"
  FINISHED = "finished"


def checkpoint_steps(workdir: str) -> list[int]:
  """Complete checkpoint steps. Orbax renames a finished local save to its step number; on GCS
  (no atomic rename) it writes commit_success.txt last, so a step dir without it is partial."""
  directory = epath.Path(workdir) / "checkpoints"
  if not directory.is_dir():
    return []
  steps = []
  for child in directory.iterdir():
    if child.name.isdigit() and (not is_url(workdir) or (child / "commit_success.txt").exists()):
      steps.append(int(child.name))
  return sorted(steps)


def eval_rows(workdir: str, checkpoint: str = "latest") -> list[dict]:
  """The eval_results.jsonl rows that can score a task scored at `checkpoint`: all of them for
  'latest'; for 'best' only `synth eval` rows, since the trainer's own row (source 'train') is
  for its last step, whichever is best."""
  rows = read_jsonl(epath.Path(workdir) / "eval_results.jsonl")
  return rows if checkpoint == "latest" else [r for r in rows if r.get("source") != "train"]


def run_status(plan: RunPlan) -> tuple[Status, int | None]:
  """(status, last complete checkpoint step) of a planned run."""
  steps = checkpoint_steps(plan.run.workdir)
  last = steps[-1] if steps else None
  if last is None:
    return Status.NEW, None
  if last < plan.num_steps:
    return Status.PARTIAL, last
  if not missing_evals(plan, steps):
    return Status.FINISHED, last
  return Status.TRAINED, last


def missing_evals(plan: RunPlan, steps: list[int] | None = None) -> list[str]:
  """The splits the table reads that eval_results.jsonl has no row for at the checkpoint the
  task scores: the last one for 'latest', any kept one for 'best' (see eval_rows)."""
  steps = checkpoint_steps(plan.run.workdir) if steps is None else steps
  if not steps:
    return list(plan.run.task.eval_splits)
  checkpoint = plan.run.task.checkpoint
  wanted = {steps[-1]} if checkpoint == "latest" else set(steps)
  scored = {r.get("split") for r in eval_rows(plan.run.workdir, checkpoint)
            if r.get("step") in wanted}
  return [split for split in plan.run.task.eval_splits if split not in scored]
