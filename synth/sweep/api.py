"""The two entry points behind `synth sweep` and `synth results`."""
import os
import shlex
import tempfile
from collections.abc import Callable, Iterable

from synth.sweep import local, tpu as tpu_lib
from synth.sweep.grid import RunPlan, expand, is_url, plan, synth_args
from synth.sweep.spec import load_experiment, split_experiment_spec
from synth.sweep.status import run_status


def repo_root(experiment_path: str) -> str:
  """The checkout the experiment's config paths (configs/...) are relative to: the folder above
  experiments/ when it has configs/, else the current directory. `experiment_path` may carry
  the file's arguments (experiments/<table>.py:k=v)."""
  path, _ = split_experiment_spec(experiment_path)
  above = os.path.dirname(os.path.dirname(os.path.abspath(path)))
  return above if os.path.isdir(os.path.join(above, "configs")) else os.getcwd()


def _say(message: str) -> None:
  print(message, flush=True)


def plans_for(experiment_path: str, root: str, only=None, extra_overrides=None) -> list[RunPlan]:
  """Loads an experiment and plans its runs under root (checking every config file)."""
  experiment = load_experiment(experiment_path)
  repo = repo_root(experiment_path)
  root = root if is_url(root) else os.path.abspath(root)
  return [plan(run, repo, extra_overrides) for run in expand(experiment, root, only)]


def sweep(experiment_path: str, root: str, only: str | Iterable[str] | None = None,
          dry_run: bool = False, parallel: int = 1, tpu: "str | tpu_lib.TpuTarget | None" = None,
          say: Callable[[str], None] = _say) -> list[local.Outcome]:
  """Trains and evaluates every run of an experiment that is not finished yet.

  Args:
    experiment_path: experiments/<table>.py, or experiments/<table>.py:k=v,... for a file that
      takes arguments (see spec.load_experiment).
    root: where the workdirs go (<root>/<table>/<task>/<variant>/seed<k>); gs:// with `tpu`.
    only: 'variant=dense,seed=0'-style filters (see grid.parse_only); a kept fine-tune keeps its
      pre-training run.
    dry_run: print what would run (and each run's status) instead of running it.
    parallel: runs at once (local subprocesses, or TPU VMs named <name>-<slot> with `tpu`).
    tpu: a TpuTarget or 'name=...,zone=...,type=v4-8[,spot=true,data_dir=gs://...]': print the
      gcloud commands per run, and run them (re-creating preempted TPUs) when gcloud is installed
      and dry_run is off.
    say: where progress lines go.

  Returns one local.Outcome per run: finished, failed, skipped or planned (dry run).
  """
  target = tpu_lib.TpuTarget.parse(tpu) if tpu else None
  if target is not None and not is_url(root):
    raise ValueError(f"with --tpu the root must be a gs:// path every TPU worker can write, got "
                     f"'{root}'")
  extra = tpu_lib.tpu_extra_overrides(target) if target else None
  plans = plans_for(experiment_path, root, only, extra)
  repo = repo_root(experiment_path)
  say(f"{len(plans)} runs of {plans[0].run.table} under {plans[0].run.root}" if plans else
      "no runs")
  if target is not None and (dry_run or not tpu_lib.gcloud_available()):
    if not dry_run:
      say("gcloud is not installed here: printing the commands instead of running them")
    return _print_tpu(plans, target, repo, parallel, say)
  if dry_run:
    return _print_local(plans, say)
  if target is not None:
    return _run_tpu(plans, target, repo, parallel, say)
  outcomes = local.schedule(plans, lambda p, slot: local.execute(p, repo, say), parallel, say,
                            after=local.vocab_leaders(plans) if parallel > 1 else None)
  _summary(outcomes, say)
  return outcomes


def _status_text(p: RunPlan) -> str:
  if is_url(p.run.root):  # a dry run must not wait on cloud storage (or need credentials)
    return "status not checked (cloud root)"
  try:
    status, step = run_status(p)
  except OSError as e:
    return f"status unknown ({e})"
  return status.value + (f" at step {step}/{p.num_steps}" if step is not None else "")


def _print_local(plans: list[RunPlan], say) -> list[local.Outcome]:
  outcomes = []
  for p in plans:
    status = _status_text(p)
    say(f"# {p.run.name}: {status}")
    if not status.startswith("finished"):
      if not status.startswith("trained"):
        say(shlex.join(synth_args(p.train)))
      for argv in p.evals:
        # Training records its final validation eval; a sweep runs this only if it is missing.
        note = ("  # if training did not record it" if argv[-1] == "--split=validation"
                and p.run.task.checkpoint == "latest" else "")
        say(shlex.join(synth_args(argv)) + note)
    outcomes.append(local.Outcome(p.run.name, p.run.workdir, "planned", status))
  return outcomes


def _archive(repo: str) -> str:
  """Where `git archive` leaves the source tarball for the workers (outside the checkout)."""
  del repo
  return os.path.join(tempfile.gettempdir(), tpu_lib.ARCHIVE)


def _print_tpu(plans, target, repo, parallel, say) -> list[local.Outcome]:
  """The gcloud commands of a TPU sweep, in order, without running anything."""
  targets = [target.renamed(str(s) if parallel > 1 else "") for s in range(parallel)]
  for t in targets:
    say(f"# provision {t.name}")
    for argv in tpu_lib.provision_commands(t, repo, _archive(repo)):
      say(shlex.join(argv))
  outcomes = []
  for i, p in enumerate(plans):
    t = targets[i % parallel]
    say(f"# {p.run.name} on {t.name} (re-run while unfinished: it resumes)")
    for argv in tpu_lib.run_commands(t, p):
      say(shlex.join(argv))
    outcomes.append(local.Outcome(p.run.name, p.run.workdir, "planned", t.name))
  for t in targets:
    say(f"# release {t.name}")
    say(shlex.join(t.delete()))
  return outcomes


def _run_tpu(plans, target, repo, parallel, say) -> list[local.Outcome]:
  targets = [target.renamed(str(s) if parallel > 1 else "") for s in range(parallel)]

  def work(p: RunPlan, slot: int) -> local.Outcome:
    result = tpu_lib.run_until_finished(targets[slot], p, repo, _archive(repo), say)
    return local.Outcome(p.run.name, p.run.workdir, result)

  try:
    outcomes = local.schedule(plans, work, parallel, say,
                              after=local.vocab_leaders(plans) if parallel > 1 else None)
  finally:
    for t in targets:
      say(f"releasing {t.name}")
      tpu_lib._call(t.delete())
  _summary(outcomes, say)
  return outcomes


def _summary(outcomes, say) -> None:
  counts = {}
  for o in outcomes:
    counts[o.result] = counts.get(o.result, 0) + 1
  say("sweep: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
