"""Cloud TPU: the gcloud commands that run a planned run on a TPU VM or pod slice, and the loop
that re-creates a preempted (spot) TPU and resumes the run until it is finished.

Every worker of a slice runs the same `synth train` (`--worker=all`); jax.distributed finds the
other workers itself on Cloud TPU. The workdir and the TFDS data_dir are gs:// paths that every
worker reads and writes; the code is the repository's committed HEAD (`git archive`), copied to
every worker and installed with jax[tpu] under the same pins as here.

Commands are argument lists run without a local shell; the one string in them is the remote
command that `gcloud ... ssh --command` hands to the worker's shell, built with shlex.join so
every argument arrives unchanged.
"""
import dataclasses
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable

from synth.sweep.grid import RunPlan, synth_args
from synth.sweep.status import Status, missing_evals, run_status

GCLOUD_TPU = ("gcloud", "compute", "tpus", "tpu-vm")
# The states of a TPU VM in which it can run work; any other (PREEMPTED, TERMINATED, ...) means
# delete it and create it again.
READY = "READY"
ARCHIVE = "synth-src.tar.gz"
REMOTE_REPO = "synth"
REMOTE_VENV = "synth-venv"


@dataclasses.dataclass(frozen=True)
class TpuTarget:
  """A TPU VM or pod slice to run on. `parse` reads 'name=...,zone=...,type=v4-8,...'."""
  name: str
  zone: str
  accelerator_type: str = "v4-8"
  # The TPU VM image: tpu-ubuntu2204-base serves v2, v3 and v4 (v5e: v2-alpha-tpuv5-lite).
  version: str = "tpu-ubuntu2204-base"
  project: str = ""
  # Spot VMs cost about a third; 'preemptible' is the older flag for the same kind of VM.
  spot: bool = True
  preemptible: bool = False
  # gs:// TFDS data_dir, passed as --config.data.data_dir (empty: keep the config's).
  data_dir: str = ""
  # The worker's interpreter: our pins need Python >= 3.11 and Ubuntu 22.04 ships 3.10, so setup
  # installs python3.11 from the Ubuntu archive.
  python: str = "python3.11"
  # Give up after this many (re)creations of a preempted TPU.
  max_attempts: int = 20

  @classmethod
  def parse(cls, spec: "str | TpuTarget") -> "TpuTarget":
    if isinstance(spec, TpuTarget):
      return spec
    fields = {f.name: f for f in dataclasses.fields(cls)}
    aliases = {"type": "accelerator_type"}
    values = {}
    for item in filter(None, spec.split(",")):
      key, sep, value = item.partition("=")
      key = aliases.get(key.strip(), key.strip())
      if not sep or key not in fields:
        raise ValueError(f"--tpu takes comma-separated key=value from "
                         f"{', '.join(sorted([*fields, 'type']))}; got '{item}'")
      kind = fields[key].type
      if kind in (bool, "bool"):
        if value.lower() not in ("true", "false", "1", "0"):
          raise ValueError(f"--tpu {key}={value} is not a boolean")
        values[key] = value.lower() in ("true", "1")
      elif kind in (int, "int"):
        values[key] = int(value)
      else:
        values[key] = value
    for required in ("name", "zone"):
      if required not in values:
        raise ValueError(f"--tpu needs {required}=... (e.g. name=synth-v4,zone=us-central2-b)")
    return cls(**values)

  def renamed(self, suffix: str) -> "TpuTarget":
    return dataclasses.replace(self, name=f"{self.name}-{suffix}") if suffix else self

  # ------------------------------------------------------------------------------------------------
  # The gcloud commands.
  # ------------------------------------------------------------------------------------------------

  def _where(self) -> list[str]:
    return [f"--zone={self.zone}"] + ([f"--project={self.project}"] if self.project else [])

  def create(self) -> list[str]:
    return [*GCLOUD_TPU, "create", self.name, *self._where(),
            f"--accelerator-type={self.accelerator_type}", f"--version={self.version}",
            *(["--spot"] if self.spot else []), *(["--preemptible"] if self.preemptible else [])]

  def describe(self) -> list[str]:
    return [*GCLOUD_TPU, "describe", self.name, *self._where(), "--format=value(state)"]

  def delete(self) -> list[str]:
    return [*GCLOUD_TPU, "delete", self.name, *self._where(), "--quiet"]

  def ssh(self, remote: str, worker: str = "all") -> list[str]:
    return [*GCLOUD_TPU, "ssh", self.name, *self._where(), f"--worker={worker}",
            f"--command={remote}"]

  def copy_source(self, archive: str) -> list[str]:
    return [*GCLOUD_TPU, "scp", archive, f"{self.name}:{ARCHIVE}", *self._where(),
            "--worker=all"]

  def setup(self) -> list[str]:
    """Installs the copied source on every worker: Python 3.11, a venv, the pinned set plus
    jax[tpu] (which brings the matching libtpu)."""
    steps = [
        ["sudo", "apt-get", "update", "-q"],
        ["sudo", "apt-get", "install", "-y", "-q", f"{self.python}", f"{self.python}-venv"],
        ["rm", "-rf", REMOTE_REPO],
        ["mkdir", "-p", REMOTE_REPO],
        ["tar", "-xzf", ARCHIVE, "-C", REMOTE_REPO],
        [self.python, "-m", "venv", REMOTE_VENV],
        # The TPU extra brings the matching libtpu; gcs lets etils.epath reach gs:// workdirs.
        [f"{REMOTE_VENV}/bin/pip", "install", "-q", "-c", f"{REMOTE_REPO}/requirements-lock.txt",
         "-e", f"{REMOTE_REPO}[tpu,gcs]"],
    ]
    return self.ssh(" && ".join(shlex.join(s) for s in steps))

  def synth(self, args: list[str]) -> list[str]:
    """`synth ARGS` on every worker, from the copied repository (configs/ paths resolve)."""
    python = f"../{REMOTE_VENV}/bin/python"
    return self.ssh(f"cd {REMOTE_REPO} && {shlex.join(synth_args(args, python=python))}")


def source_archive(repo: str, archive: str) -> list[str]:
  """`git archive` of the committed HEAD: what the workers install."""
  return ["git", "-C", repo, "archive", "--format=tar.gz", "-o", archive, "HEAD"]


def tpu_extra_overrides(target: TpuTarget) -> dict:
  return {"data.data_dir": target.data_dir} if target.data_dir else {}


def provision_commands(target: TpuTarget, repo: str, archive: str) -> list[list[str]]:
  """Create the VM, copy the source and install it on every worker."""
  return [target.create(), source_archive(repo, archive), target.copy_source(archive),
          target.setup()]


def run_commands(target: TpuTarget, plan: RunPlan) -> list[list[str]]:
  """Train (resuming if the workdir has checkpoints) and evaluate one run on every worker."""
  return [target.synth(plan.train), *(target.synth(argv) for argv in plan.evals)]


def gcloud_available() -> bool:
  return shutil.which("gcloud") is not None


def _call(argv: list[str]) -> int:
  return subprocess.run(argv, check=False).returncode


def _state(target: TpuTarget) -> str:
  """READY, PREEMPTED, ... or '' when the TPU does not exist."""
  result = subprocess.run(target.describe(), capture_output=True, text=True, check=False)
  return result.stdout.strip() if result.returncode == 0 else ""


def run_until_finished(target: TpuTarget, plan: RunPlan, repo: str, archive: str,
                       say: Callable[[str], None], call: Callable[[list[str]], int] = _call,
                       state: Callable[[TpuTarget], str] = _state,
                       wait_s: float = 60.0) -> str:
  """Runs `plan` on `target` until it is finished, re-creating the TPU whenever it was preempted.

  Each attempt: if the TPU is not READY, delete whatever is left of it and create, copy and
  install afresh; then train on every worker (it resumes from the gs:// workdir's latest
  checkpoint) and evaluate. Returns 'finished' or 'failed'.
  """
  run = plan.run
  for attempt in range(1, target.max_attempts + 1):
    if run_status(plan)[0] is Status.FINISHED:
      return "finished"
    current = state(target)
    if current != READY:
      if current:
        say(f"{run.name}: TPU {target.name} is {current}: deleting and re-creating it")
        call(target.delete())
      say(f"{run.name}: creating TPU {target.name} (attempt {attempt})")
      if any(call(argv) != 0 for argv in provision_commands(target, repo, archive)):
        say(f"{run.name}: could not create or set up {target.name}; retrying in {wait_s:.0f} s")
        time.sleep(wait_s)
        continue
    clean = call(target.synth(plan.train)) == 0
    if clean:
      missing = set(missing_evals(plan))
      clean = all(call(target.synth(argv)) == 0 for argv in plan.evals
                  if argv[-1].split("=", 1)[1] in missing)
    if run_status(plan)[0] is Status.FINISHED:
      return "finished"
    if not clean and state(target) == READY:
      say(f"{run.name}: failed on a healthy TPU (not a preemption); see the output above")
      return "failed"
    say(f"{run.name}: attempt {attempt} ended before the run finished (preempted); resuming")
  say(f"{run.name}: gave up after {target.max_attempts} attempts")
  return "failed"
