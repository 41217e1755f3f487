"""Running planned runs on this machine: `synth train` then `synth eval`, N runs at a time.

Every command is a subprocess with an argument list (no shell). Output goes to
<workdir>/sweep.log (local or gs://), one header line per command, so the console shows one line
per run event while the full logs stay with the run. A run starts only after its parent (the run
it fine-tunes from) has finished; a failed parent skips its children. Runs sharing a vocabulary
that does not exist yet wait for the first of them, which trains it. Each command's wall time
goes to <workdir>/sweep_times.jsonl, so a table can report what each run cost (process start-up,
compilation and evaluation included), across resumes.
"""
import concurrent.futures
import dataclasses
import datetime
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable

from etils import epath

from synth.run_files import append_bytes, append_jsonl, is_remote, read_jsonl
from synth.sweep.grid import RunPlan, join, synth_args
from synth.sweep.status import Status, missing_evals, run_status


@dataclasses.dataclass
class Outcome:
  """How a run ended in this sweep: finished, failed (with the command) or skipped."""
  name: str
  workdir: str
  result: str
  detail: str = ""


def _stamp() -> str:
  return datetime.datetime.now().strftime("%H:%M:%S")


def run_logged(argv: list[str], log_path: str, cwd: str, env: dict | None = None) -> int:
  """Runs `argv` (a list: no shell), appending its output to `log_path`; returns the exit code.

  A subprocess can only write to a local file, so for a gs:// workdir the output goes to a local
  temporary file first and is appended to the remote log when the command ends (a sweep killed
  meanwhile loses that command's log; the run's own files are unaffected).
  """
  header = f"\n=== {_stamp()} $ {shlex.join(argv)}\n".encode()
  if is_remote(log_path):  # bytes throughout: a command may print anything
    with tempfile.TemporaryFile("w+b") as log:
      code = _run_into(argv, log, header, cwd, env)
      log.seek(0)
      append_bytes(log_path, log.read())
    return code
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  with open(log_path, "ab") as log:
    return _run_into(argv, log, header, cwd, env)


def _run_into(argv, log, header: bytes, cwd: str, env) -> int:
  log.write(header)
  log.flush()
  return subprocess.run(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env,
                        check=False).returncode


TIMES_FILE = "sweep_times.jsonl"


def timed(runner: Callable[[list[str], str, str], int], args: list[str], log: str, cwd: str,
          workdir: str) -> int:
  """runner(synth_args(args), log, cwd), with its wall time appended to
  <workdir>/sweep_times.jsonl as {"command": train|eval, "args": [...], "start": unix time,
  "wall_s": seconds, "exit": code}."""
  start = time.time()
  code = runner(synth_args(args), log, cwd)
  append_jsonl(join(workdir, TIMES_FILE), [{
      "command": args[0], "args": args[1:], "start": round(start, 3),
      "wall_s": round(time.time() - start, 3), "exit": int(code)}])
  return code


def wall_seconds(workdir: str) -> float | None:
  """The run's total wall time over every sweep command it took (train pieces across resumes,
  and evals); None when no sweep ran it (e.g. trained by hand)."""
  rows = [r for r in read_jsonl(join(workdir, TIMES_FILE))
          if isinstance(r.get("wall_s"), (int, float))]
  return sum(r["wall_s"] for r in rows) if rows else None


def execute(plan: RunPlan, cwd: str, say: Callable[[str], None],
            runner: Callable[[list[str], str, str], int] = run_logged) -> Outcome:
  """Trains (or resumes) and evaluates one run unless it is already finished."""
  run = plan.run
  status, step = run_status(plan)
  log = os.path.join(run.workdir, "sweep.log")
  if status is Status.FINISHED:
    say(f"{run.name}: finished (step {step}), skipped")
    return Outcome(run.name, run.workdir, "finished", "already finished")
  if status in (Status.NEW, Status.PARTIAL):
    say(f"{run.name}: " + ("training" if status is Status.NEW else
                           f"resuming from step {step}") + f" (log: {log})")
    code = timed(runner, plan.train, log, cwd, run.workdir)
    if code != 0:
      say(f"{run.name}: train FAILED (exit {code}); see {log}")
      return Outcome(run.name, run.workdir, "failed", f"train exit {code}")
    status, step = run_status(plan)
    if status is Status.PARTIAL:  # e.g. stopped by SIGTERM: it saved and exited cleanly
      say(f"{run.name}: stopped at step {step} of {plan.num_steps}; run the sweep again")
      return Outcome(run.name, run.workdir, "failed", f"stopped at step {step}")
  # Only the splits still missing: a trainer that records its final evaluation in
  # eval_results.jsonl saves the extra `synth eval` process.
  missing = set(missing_evals(plan))
  for argv in (a for a in plan.evals if a[-1].split("=", 1)[1] in missing):
    say(f"{run.name}: evaluating ({argv[-1]})")
    code = timed(runner, argv, log, cwd, run.workdir)
    if code != 0:
      say(f"{run.name}: eval FAILED (exit {code}); see {log}")
      return Outcome(run.name, run.workdir, "failed", f"eval exit {code}")
  say(f"{run.name}: done")
  return Outcome(run.name, run.workdir, "finished")


def vocab_leaders(plans: list[RunPlan]) -> dict[str, str]:
  """{run: the run it waits for} so that a vocabulary shared by several runs and not trained yet
  is trained by the first of them alone: two runs training it at once would each keep the
  model they trained while the file holds the last one written."""
  after, leaders = {}, {}
  for p in plans:
    if p.vocab_path in leaders:
      after[p.run.name] = leaders[p.vocab_path]
    elif not epath.Path(p.vocab_path).exists():
      leaders[p.vocab_path] = p.run.name
  return after


def schedule(plans: list[RunPlan], work: Callable[[RunPlan, int], Outcome], parallel: int,
             say: Callable[[str], None], after: dict[str, str] | None = None) -> list[Outcome]:
  """Calls work(plan, slot) for every plan, at most `parallel` at once, each after its parent
  (skipped if the parent did not finish) and after the run `after` names for it, if any.

  `slot` (0..parallel-1) names the worker a run got, e.g. which TPU VM it uses.
  """
  if parallel < 1:
    raise ValueError(f"parallel must be >= 1, got {parallel}")
  by_name = {p.run.name: p for p in plans}
  after = after or {}
  outcomes: dict[str, Outcome] = {}
  pending = list(plans)
  running: dict[concurrent.futures.Future, tuple[RunPlan, int]] = {}
  with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
    while pending or running:
      free = sorted(set(range(parallel)) - {slot for _, slot in running.values()})
      for plan in list(pending):
        parent = plan.run.parent.name if plan.run.parent is not None else None
        waits = [n for n in (parent, after.get(plan.run.name)) if n in by_name]
        if any(n not in outcomes for n in waits):
          continue  # its parent (or the run training its vocabulary) has not finished yet
        if parent in outcomes and outcomes[parent].result != "finished":
          pending.remove(plan)
          outcomes[plan.run.name] = Outcome(plan.run.name, plan.run.workdir, "skipped",
                                            f"parent {parent} {outcomes[parent].result}")
          say(f"{plan.run.name}: skipped ({outcomes[plan.run.name].detail})")
          continue
        if not free:
          break
        slot = free.pop(0)
        pending.remove(plan)
        running[pool.submit(work, plan, slot)] = (plan, slot)
      if not running:
        continue
      done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
      for future in done:
        plan, _ = running.pop(future)
        try:
          outcomes[plan.run.name] = future.result()
        except Exception as e:  # a bug or an OS error in one run must not stop the others
          say(f"{plan.run.name}: FAILED ({type(e).__name__}: {e})")
          outcomes[plan.run.name] = Outcome(plan.run.name, plan.run.workdir, "failed", str(e))
  return [outcomes[p.run.name] for p in plans]
