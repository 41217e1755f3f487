"""Cloud TPU: the exact gcloud commands (as scripts/tpu/launch.py --dry_run prints them) and the
re-create-and-resume loop, driven by a fake gcloud."""
import json
import os
import shlex
import subprocess
import sys
import tempfile

import pytest

from synth.sweep import api
from synth.sweep.tpu import TpuTarget, run_until_finished
from train_helpers import REPO

TARGET = TpuTarget(name="synth-v4", zone="us-central2-b", data_dir="gs://b/tfds")
TPU = ["gcloud", "compute", "tpus", "tpu-vm"]
TRAIN = ("cd synth && ../synth-venv/bin/python -m synth.main train "
         "--config=configs/lm1b.py:variant=random --workdir=gs://b/synth/mt_lm/lm1b/random/seed0 "
         "--config.seed=0 --config.data.data_dir=gs://b/tfds "
         "--config.data.vocab_path=gs://b/synth/mt_lm/lm1b/vocab/spm_32000.model")
EVAL = ("cd synth && ../synth-venv/bin/python -m synth.main eval "
        "--workdir=gs://b/synth/mt_lm/lm1b/random/seed0 --checkpoint=latest --split=validation")
SETUP = ("sudo apt-get update -q && sudo apt-get install -y -q python3.11 python3.11-venv && "
         "rm -rf synth && mkdir -p synth && tar -xzf synth-src.tar.gz -C synth && "
         "python3.11 -m venv synth-venv && synth-venv/bin/pip install -q -c "
         "synth/requirements-lock.txt -e 'synth[tpu,gcs]'")


def test_parse_target():
  t = TpuTarget.parse("name=pod,zone=europe-west4-a,type=v3-32,spot=false,project=p,"
                      "data_dir=gs://b/tfds,max_attempts=3")
  assert (t.name, t.zone, t.accelerator_type, t.spot, t.project, t.data_dir, t.max_attempts) == (
      "pod", "europe-west4-a", "v3-32", False, "p", "gs://b/tfds", 3)
  with pytest.raises(ValueError, match="--tpu takes comma-separated key=value"):
    TpuTarget.parse("name=a,zone=b,size=8")
  with pytest.raises(ValueError, match="--tpu needs zone="):
    TpuTarget.parse("name=a")


def test_gcloud_commands():
  assert TARGET.create() == [*TPU, "create", "synth-v4", "--zone=us-central2-b",
                             "--accelerator-type=v4-8", "--version=tpu-ubuntu2204-base", "--spot"]
  pod = TpuTarget(name="pod", zone="z", accelerator_type="v4-32", project="p", spot=False,
                  preemptible=True)
  assert pod.create() == [*TPU, "create", "pod", "--zone=z", "--project=p",
                          "--accelerator-type=v4-32", "--version=tpu-ubuntu2204-base",
                          "--preemptible"]
  assert TARGET.describe() == [*TPU, "describe", "synth-v4", "--zone=us-central2-b",
                               "--format=value(state)"]
  assert TARGET.delete() == [*TPU, "delete", "synth-v4", "--zone=us-central2-b", "--quiet"]
  assert TARGET.setup() == [*TPU, "ssh", "synth-v4", "--zone=us-central2-b", "--worker=all",
                            f"--command={SETUP}"]


def test_launch_dry_run_prints_the_exact_commands():
  archive = os.path.join(tempfile.gettempdir(), "synth-src.tar.gz")
  result = subprocess.run(
      [sys.executable, "scripts/tpu/launch.py", "experiments/mt_lm.py", "--root=gs://b/synth",
       "--name=synth-v4", "--zone=us-central2-b", "--data_dir=gs://b/tfds",
       "--only=variant=random,task=lm1b", "--dry_run"],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  commands = [shlex.split(line) for line in result.stdout.splitlines()
              if line and not line.startswith("#") and " runs of " not in line]
  where = "--zone=us-central2-b"
  assert commands == [
      [*TPU, "create", "synth-v4", where, "--accelerator-type=v4-8",
       "--version=tpu-ubuntu2204-base", "--spot"],
      ["git", "-C", REPO, "archive", "--format=tar.gz", "-o", archive, "HEAD"],
      [*TPU, "scp", archive, "synth-v4:synth-src.tar.gz", where, "--worker=all"],
      [*TPU, "ssh", "synth-v4", where, "--worker=all", f"--command={SETUP}"],
      [*TPU, "ssh", "synth-v4", where, "--worker=all", f"--command={TRAIN}"],
      [*TPU, "ssh", "synth-v4", where, "--worker=all", f"--command={EVAL}"],
      [*TPU, "delete", "synth-v4", where, "--quiet"],
  ]
  # The remote command splits back into the exact argument list the trainer gets.
  assert shlex.split(TRAIN)[4:7] == ["-m", "synth.main", "train"]


def test_parallel_tpus_are_numbered_and_a_local_root_is_refused(tmp_path):
  lines = []
  api.sweep(os.path.join(REPO, "experiments", "mt_lm.py"), "gs://b/synth",
            only="task=lm1b,variant=random,variant=dense", dry_run=True, parallel=2,
            tpu="name=v4,zone=z", say=lines.append)
  assert "# lm1b/random/seed0 on v4-0 (re-run while unfinished: it resumes)" in lines
  assert "# lm1b/dense/seed0 on v4-1 (re-run while unfinished: it resumes)" in lines
  assert sum(line.startswith("gcloud compute tpus tpu-vm create v4-") for line in lines) == 2
  with pytest.raises(ValueError, match="must be a gs:// path"):
    api.sweep(os.path.join(REPO, "experiments", "mt_lm.py"), str(tmp_path), tpu="name=v,zone=z")


class FakeCloud:
  """gcloud stand-in: the TPU is preempted during the first training attempt."""

  def __init__(self, workdir, preempt_first=True, fail_train=False):
    self.workdir, self.state, self.calls = workdir, "", []
    self.preempt_first, self.fail_train = preempt_first, fail_train

  def call(self, argv):
    verb = argv[4] if argv[0] == "gcloud" else argv[0]
    command = next((a for a in argv if a.startswith("--command=")), "")
    if " train " in command:
      verb = "train"
    elif " eval " in command:
      verb = "eval"
    self.calls.append(verb)
    if verb == "create":
      self.state = "READY"
    elif verb == "delete":
      self.state = ""
    elif verb == "train":
      if self.fail_train:
        return 1
      os.makedirs(os.path.join(self.workdir, "checkpoints", "100"), exist_ok=True)
      if self.preempt_first and self.calls.count("train") == 1:
        self.state = "PREEMPTED"
        return 255
      os.makedirs(os.path.join(self.workdir, "checkpoints", "300"), exist_ok=True)
    elif verb == "eval":
      with open(os.path.join(self.workdir, "eval_results.jsonl"), "a") as f:
        f.write(json.dumps({"step": 300, "split": "validation", "loss": 1.0}) + "\n")
    return 0


def lm_plan(tmp_path):
  plan = api.plans_for(os.path.join(REPO, "experiments", "cpu_offline.py"), str(tmp_path),
                       "task=lm_python_docs,variant=random,seed=0")[0]
  return plan


def test_preempted_tpu_is_recreated_and_the_run_resumed(tmp_path):
  plan = lm_plan(tmp_path)
  cloud = FakeCloud(plan.run.workdir)
  result = run_until_finished(TARGET, plan, REPO, "/tmp/src.tar.gz", lambda m: None,
                              call=cloud.call, state=lambda t: cloud.state, wait_s=0)
  assert result == "finished"
  assert cloud.calls == ["create", "git", "scp", "ssh", "train",  # preempted during training
                         "delete", "create", "git", "scp", "ssh", "train", "eval"]
  # A finished run costs nothing more.
  assert run_until_finished(TARGET, plan, REPO, "/tmp/src.tar.gz", lambda m: None,
                            call=cloud.call, state=lambda t: cloud.state) == "finished"
  assert len(cloud.calls) == 12


def test_a_failure_on_a_healthy_tpu_is_not_retried(tmp_path):
  plan = lm_plan(tmp_path)
  cloud = FakeCloud(plan.run.workdir, preempt_first=False, fail_train=True)
  lines = []
  result = run_until_finished(TARGET, plan, REPO, "/tmp/src.tar.gz", lines.append,
                              call=cloud.call, state=lambda t: cloud.state, wait_s=0)
  assert result == "failed" and cloud.calls.count("train") == 1
  assert any("not a preemption" in line for line in lines)
