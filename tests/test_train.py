"""The trainer: exact resume, crash safety, preemption, resharding, config errors, the README job.

All runs use a tiny LM on the embedded python_docs corpus over 8 simulated CPU devices; the
SentencePiece vocabulary is trained once per session and shared.
"""
import json
import math
import os
import signal
import subprocess
import time

import jax
import numpy as np
import pytest

from synth.data.tasks import get_data
from synth.eval.evaluate import Evaluator
from synth.parallel import make_mesh
from synth.train import checkpoints as ckpt
from synth.train import restore, trainer
from train_helpers import (REPO, SimulatedCrash, crash_at_step, run_synth,
                           synth_command, synth_env, tiny_config, tiny_flags)


def read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def final_params(config, workdir):
  mesh = jax.make_mesh((8, 1, 1), ("data", "fsdp", "tensor"),
                       axis_types=(jax.sharding.AxisType.Auto,) * 3)
  _, state, _ = restore.load_checkpoint(config, workdir, mesh)
  return jax.device_get(state)


def assert_trees_equal(a, b):
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), a, b)


def test_resume_after_crash_is_bitwise_identical(vocab, tmp_path, monkeypatch):
  config = tiny_config(vocab)
  straight, crashed = str(tmp_path / "straight"), str(tmp_path / "crashed")
  trainer.train(config, straight)

  crash_at_step(monkeypatch, 7)  # checkpoint 4 is the last one written
  with pytest.raises(SimulatedCrash):
    trainer.train(config, crashed)
  monkeypatch.undo()
  assert ckpt.Checkpoints(crashed).all_steps() == [4]
  trainer.train(config, crashed)  # resumes from step 4: params, optimizer, RNG and data position

  assert_trees_equal(final_params(config, straight), final_params(config, crashed))
  by_step = lambda rows: {(r["step"], k): v for r in rows for k, v in r.items()
                          if k in ("loss", "grad_norm", "eval/loss")}
  a = by_step(read_jsonl(os.path.join(straight, "metrics.jsonl")))
  b = by_step(read_jsonl(os.path.join(crashed, "metrics.jsonl")))
  assert a == b  # steps 1-6 were logged before the crash and 5-8 after it: all identical


def test_outputs_of_a_run(vocab, tmp_path):
  workdir = str(tmp_path / "run")
  config = tiny_config(vocab, **{"train.keep": 1, "train.keep_best": 1})
  metrics = trainer.train(config, workdir)
  assert math.isfinite(metrics["perplexity"]) and metrics["perplexity"] > 1
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["model"]["d_model"] == 32
  rows = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  train_rows = [r for r in rows if "loss" in r]
  assert [r["step"] for r in train_rows] == list(range(1, 9))
  for key in ("learning_rate", "tokens_per_s", "step_time_s", "grad_norm", "data_wait_fraction"):
    assert all(key in r for r in train_rows), key
  assert [r["step"] for r in rows if "eval/loss" in r] == [4, 8]
  assert any(name.startswith("events.out.tfevents") for name in os.listdir(workdir))
  with open(os.path.join(workdir, "parameters.txt")) as f:
    assert "feed_forward" in f.read()  # the per-parameter overview table
  # keep=1 keeps step 8; keep_best=1 keeps the better of the two evaluated steps.
  eval_loss = {r["step"]: r["eval/loss"] for r in rows if "eval/loss" in r}
  best = min(eval_loss, key=eval_loss.get)
  assert ckpt.Checkpoints(workdir).all_steps() == sorted({8, best})


@pytest.mark.parametrize("options", [
    {"model.variant": "random+vanilla", "model.attention_impl": "xla"},
    {"model.variant": "random", "model.scan_layers": True},
], ids=["mixture-xla", "random-scan"])
def test_bfloat16_compute_trains_with_float32_parameters(vocab, tmp_path, options):
  """model.dtype='bfloat16' (the documented GPU/TPU setting): activations and matmuls in bf16,
  parameters, optimizer state, softmax and loss in float32. The loss is finite and within a few
  percent of the float32 run's, and the checkpointed parameters are float32."""
  losses = {}
  for dtype in ("float32", "bfloat16"):
    workdir = str(tmp_path / dtype)
    config = tiny_config(vocab, **{"model.dtype": dtype, "train.num_steps": 4,
                                   "train.eval_every": 4, "train.checkpoint_every": 4,
                                   **options})
    trainer.train(config, workdir)
    losses[dtype] = [r["loss"] for r in read_jsonl(os.path.join(workdir, "metrics.jsonl"))
                     if "loss" in r]
    params = final_params(config, workdir)["params"]
    assert {np.asarray(x).dtype for x in jax.tree.leaves(params)} == {np.dtype("float32")}
  assert all(math.isfinite(x) for x in losses["bfloat16"]) and len(losses["bfloat16"]) == 4
  np.testing.assert_allclose(losses["bfloat16"], losses["float32"], rtol=0.05)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(vocab, tmp_path):
  workdir = str(tmp_path / "nan")
  config = tiny_config(vocab, **{"optimizer.learning_rate": float("nan"),
                                 "train.checkpoint_every": 1})
  with pytest.raises(trainer.NonFiniteLossError, match="step 2.*last good checkpoint is step 1"):
    trainer.train(config, workdir)
  assert ckpt.Checkpoints(workdir).all_steps() == [1]


def _eval_losses(config, workdir, devices=None):
  """Eval loss of a run's latest checkpoint restored onto a mesh of `devices` (default: all)."""
  mesh = make_mesh(config.mesh, devices)
  layout, state, rngs = restore.load_checkpoint(config, workdir, mesh)
  evaluator = Evaluator(config, workdir, mesh, layout, get_data(config, workdir))
  return evaluator.losses(state, rngs, "validation", config.train.eval_steps)


def test_checkpoint_restores_on_other_meshes_with_same_eval_loss(vocab, tmp_path):
  workdir = str(tmp_path / "mesh")
  config = tiny_config(vocab, **{"train.num_steps": 4, "train.eval_every": 0})
  config.mesh.update(data=4, fsdp=1, tensor=2)
  config.model.num_heads = 4  # heads split over tensor=2 and then tensor=4
  trainer.train(config, workdir)
  on_4x2 = _eval_losses(config, workdir)

  config.mesh.update(data=2, tensor=4)
  on_2x4 = _eval_losses(config, workdir)
  config.mesh.update(data=1, tensor=1)
  on_1 = _eval_losses(config, workdir, devices=jax.devices()[:1])
  assert on_4x2["tokens"] == on_2x4["tokens"] == on_1["tokens"] > 0
  assert on_2x4["loss"] == pytest.approx(on_4x2["loss"], abs=1e-5)
  assert on_1["loss"] == pytest.approx(on_4x2["loss"], abs=1e-5)


def test_gradient_accumulation_matches_one_big_batch(vocab, tmp_path):
  config = tiny_config(vocab, **{"model.dropout_rate": 0.0, "train.num_steps": 2,
                                 "train.eval_every": 0})
  trainer.train(config, str(tmp_path / "one"))
  config.optimizer.grad_accum_steps = 4
  trainer.train(config, str(tmp_path / "accum"))
  a = final_params(config, str(tmp_path / "one"))["params"]
  b = final_params(config, str(tmp_path / "accum"))["params"]
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=2e-6), a, b)


def test_init_from_restores_params_and_reports_mismatches(vocab, tmp_path):
  source = str(tmp_path / "source")
  config = tiny_config(vocab, **{"train.num_steps": 2, "train.eval_every": 0})
  trainer.train(config, source)
  trained = final_params(config, source)["params"]

  finetune = str(tmp_path / "finetune")
  config.init_from = source
  config.train.num_steps = 1
  config.optimizer.learning_rate = 0.0
  trainer.train(config, finetune)
  assert_trees_equal(trained, final_params(config, finetune)["params"])

  config.model.d_ff = 48
  with pytest.raises(ckpt.CheckpointError, match=r"feed_forward/wi: checkpoint \(32, 64\) vs "
                                                 r"model \(32, 48\)"):
    trainer.train(config, str(tmp_path / "mismatch"))


@pytest.mark.parametrize("args, message", [
    (["--config=configs/lm_python_docs.py:variant=foo"], "unknown attention variant 'foo'"),
    (["--config=configs/lm_python_docs.py", "--config.model.nope=1"],
     "unknown config field 'model.nope'"),
    (["--config=configs/lm_python_docs.py:variant=dense", "--config.data.seq_len=256"],
     "data.seq_len=256 is longer than model.max_len=128"),
    (["--config=configs/lm_python_docs.py", "--config.model.d_model=abc"], "d_model=abc"),
])
def test_config_errors_are_one_line_and_touch_nothing(tmp_path, args, message):
  workdir = tmp_path / "workdir"
  result = run_synth("train", *args, f"--workdir={workdir}", timeout=120)
  assert result.returncode != 0
  errors = [line for line in result.stderr.splitlines() if line.startswith("synth: error:")]
  assert len(errors) == 1 and message in errors[0], result.stderr
  assert "Traceback" not in result.stderr
  assert not workdir.exists()


def test_missing_dataset_is_one_line(tmp_path):
  result = run_synth("train", "--config=configs/offline_ende.py", f"--workdir={tmp_path / 'w'}",
                     f"--config.data.data_dir={tmp_path / 'no_data'}", timeout=120)
  assert result.returncode == 2, result.stderr
  assert "Traceback" not in result.stderr
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("synth: error: offline corpus 'ende'") and "synth data prepare" in last


def test_resume_on_another_process_count(vocab, tmp_path):
  """The data positions of 2 processes cannot resume 1: a clear error that restores nothing,
  unless train.reset_data_on_resume restores the model and restarts the data."""
  workdir = str(tmp_path / "run")
  trainer.train(tiny_config(vocab, **{"train.num_steps": 4, "train.eval_every": 0}), workdir)
  data_dir = os.path.join(workdir, "checkpoints", "4", "data")
  os.rename(os.path.join(data_dir, "process_0-of-1.json"),
            os.path.join(data_dir, "process_0-of-2.json"))
  with open(os.path.join(data_dir, "process_0-of-2.json")) as f:
    position = f.read()
  with open(os.path.join(data_dir, "process_1-of-2.json"), "w") as f:
    f.write(position)
  saved = final_params(tiny_config(vocab), workdir)["params"]
  config = tiny_config(vocab, **{"train.num_steps": 6, "train.eval_every": 0})
  with pytest.raises(ckpt.CheckpointError, match="data positions of 2 processes, but 1 are "
                                                 "running.*reset_data_on_resume"):
    trainer.train(config, workdir)
  assert ckpt.Checkpoints(workdir).all_steps() == [4]

  config.train.reset_data_on_resume = True
  trainer.train(config, workdir)
  assert ckpt.Checkpoints(workdir).all_steps() == [4, 6]
  steps = [r["step"] for r in read_jsonl(os.path.join(workdir, "metrics.jsonl")) if "loss" in r]
  assert steps == [1, 2, 3, 4, 5, 6]  # resumed at step 5 from the restored model
  resumed = final_params(config, workdir)["params"]
  moved = jax.tree.map(lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))),
                       saved, resumed)
  assert max(jax.tree.leaves(moved)) > 0  # it trained on from step 4


def _wait_for(predicate, timeout_s: float, proc):
  deadline = time.time() + timeout_s
  while time.time() < deadline:
    found = predicate()
    if found:
      return found
    if proc.poll() is not None:
      raise AssertionError(f"training exited early:\n{proc.stderr.read()}")
    time.sleep(0.002)
  raise AssertionError("timed out")


def test_sigkill_during_async_save_resumes_from_last_complete_checkpoint(vocab, tmp_path):
  workdir = tmp_path / "killed"
  overrides = {"train.num_steps": 400, "train.checkpoint_every": 2,
               "train.eval_every": 0}
  proc = subprocess.Popen(
      synth_command("train", "--config=configs/lm_python_docs.py", f"--workdir={workdir}",
                    *tiny_flags(vocab, **overrides)),
      cwd=REPO, env=synth_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  ckpt_dir = workdir / "checkpoints"

  def saving_after_first_complete():
    if not ckpt_dir.exists():
      return None
    names = os.listdir(ckpt_dir)
    complete = [n for n in names if n.isdigit()]
    partial = [n for n in names if "tmp" in n]
    return partial if complete and partial else None

  try:
    partial = _wait_for(saving_after_first_complete, 240, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
  finally:
    proc.kill()
  assert (ckpt_dir / partial[0]).exists()  # the kill interrupted a save in progress
  complete = sorted(int(n) for n in os.listdir(ckpt_dir) if n.isdigit())

  config = tiny_config(vocab, **{**overrides, "train.num_steps": complete[-1] + 2})
  trainer.train(config, str(workdir))
  steps = ckpt.Checkpoints(str(workdir)).all_steps()
  assert steps[-1] == complete[-1] + 2
  assert not [n for n in os.listdir(ckpt_dir) if "tmp" in n]


def test_sigterm_saves_and_exits_cleanly(vocab, tmp_path):
  workdir = tmp_path / "preempted"
  overrides = {"train.num_steps": 100000, "train.checkpoint_every": 1000,
               "train.eval_every": 0}
  proc = subprocess.Popen(
      synth_command("train", "--config=configs/lm_python_docs.py", f"--workdir={workdir}",
                    *tiny_flags(vocab, **overrides)),
      cwd=REPO, env=synth_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  metrics = workdir / "metrics.jsonl"
  try:
    _wait_for(lambda: metrics.exists() and len(metrics.read_text().splitlines()) >= 3, 240, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
  finally:
    proc.kill()
  assert proc.returncode == 0, err
  steps = ckpt.Checkpoints(str(workdir)).all_steps()
  assert len(steps) == 1 and 3 <= steps[0] < 1000  # saved at the preemption, not on schedule


def test_readme_main_job_runs_end_to_end(tmp_path):
  """The README's main-job command, shortened by overrides, on a fresh workdir and vocab: run as
  written from a directory with no configs/ (the config file shipped with the package is used),
  so its relative --workdir stays relative."""
  with open(os.path.join(REPO, "README.md")) as f:
    readme = f.read()
  command = next(line.strip() for line in readme.splitlines()
                 if line.strip().startswith("synth train --config=configs/lm_python_docs.py"))
  args = command.split()[1:]
  (workdir,) = [a.split("=", 1)[1] for a in args if a.startswith("--workdir=")]
  assert not os.path.isabs(workdir)
  args += ["--config.train.num_steps=20", "--config.train.eval_every=20",
           "--config.train.log_every=5", "--config.train.checkpoint_every=10",
           "--config.data.max_eval_examples=64"]
  result = run_synth(*args, timeout=600, cwd=str(tmp_path))
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  assert "eval at step 20" in result.stdout and "perplexity" in result.stdout
  assert ckpt.Checkpoints(str(tmp_path / workdir), read_only=True).all_steps() == [10, 20]
  rows = read_jsonl(tmp_path / workdir / "metrics.jsonl")
  losses = [r["loss"] for r in rows if "loss" in r]
  assert losses[-1] < losses[0] - 0.5  # the loss falls
