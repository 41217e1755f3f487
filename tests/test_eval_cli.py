"""`synth eval` and `synth decode` over a tiny trained run, and the same eval code in training."""
import json
import os
import shutil

import pytest

from synth import run_files
from synth.eval import evaluate
from synth.train import checkpoints as ckpt
from synth.train import trainer
from train_helpers import run_synth, tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A 6-step run with checkpoints at steps 2, 4 and 6 (periodic eval at 3 and 6)."""
  root = tmp_path_factory.mktemp("eval")
  config = tiny_config(str(root / "spm_500.model"),
                       **{"train.num_steps": 6, "train.checkpoint_every": 2,
                          "train.eval_every": 3, "eval.num_samples": 2})
  workdir = str(root / "run")
  trainer.train(config, workdir)
  return config, workdir


def test_training_writes_final_samples(trained):
  _, workdir = trained
  with open(os.path.join(workdir, "samples", "validation_step6.txt")) as f:
    text = f.read()
  assert text.count("prediction:") == 2 and text.count("reference:") == 2


def _result_rows(workdir):
  with open(os.path.join(workdir, "eval_results.jsonl")) as f:
    return [json.loads(line) for line in f]


def test_training_records_its_final_eval_like_synth_eval(trained, tmp_path):
  """The trainer's row for its last step is the row `synth eval` writes for that checkpoint, so
  a sweep needs no eval process."""
  _, source = trained
  (trained_row,) = _result_rows(source)
  workdir = str(tmp_path / "copy")
  shutil.copytree(source, workdir)
  rows, errors = evaluate.evaluate_checkpoints(run_files.load_run_config(workdir), workdir)
  assert not errors and [r["step"] for r in rows] == [6]
  assert trained_row["step"] == 6 and trained_row["split"] == "validation"
  assert trained_row["config_hash"] == rows[0]["config_hash"]
  for key in ("loss", "perplexity", "tokens", "accuracy"):
    assert trained_row[key] == pytest.approx(rows[0][key], rel=1e-6), key


def test_eval_all_writes_one_line_per_checkpoint(trained, tmp_path):
  config, source = trained
  workdir = str(tmp_path / "copy")
  shutil.copytree(source, workdir)
  rows, errors = evaluate.evaluate_checkpoints(run_files.load_run_config(workdir), workdir,
                                               which="all")
  assert not errors
  written = _result_rows(workdir)[1:]  # after the trainer's own final row
  assert [r["step"] for r in written] == [r["step"] for r in rows] == [2, 4, 6]
  for r in written:
    assert r["split"] == "validation" and r["loss"] > 0 and r["perplexity"] > 1
    assert 0.0 <= r["accuracy"] <= 100.0  # an LM's token accuracy, in percent
    assert r["config_hash"] == run_files.config_hash(run_files.load_run_config(workdir))
  # The eval of step 6 equals the periodic eval the trainer logged at step 6: same code.
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    logged = [json.loads(line) for line in f if "eval/loss" in line]
  assert written[-1]["loss"] == pytest.approx(logged[-1]["eval/loss"], rel=1e-6)
  assert written[-1]["accuracy"] == pytest.approx(logged[-1]["eval/accuracy"], rel=1e-6)
  assert os.path.exists(os.path.join(workdir, "samples", "validation_step2.txt"))


def test_eval_best_and_step_selection(trained):
  config, workdir = trained
  steps = [2, 4, 6]
  assert evaluate.select_steps(workdir, steps, "latest") == [6]
  assert evaluate.select_steps(workdir, steps, "4") == [4]
  # Periodic evals ran at steps 3 and 6; only 6 has a checkpoint, so only 6 competes.
  assert evaluate.select_steps(workdir, steps, "best") == [6]
  with pytest.raises(ckpt.CheckpointError, match="has an eval/loss value"):
    evaluate.select_steps(workdir, [2, 4], "best")
  with pytest.raises(ckpt.CheckpointError, match="no checkpoint for step 5"):
    evaluate.select_steps(workdir, steps, "5")
  with pytest.raises(ValueError, match="--checkpoint must be"):
    evaluate.select_steps(workdir, steps, "newest")
  with pytest.raises(ckpt.CheckpointError, match="no checkpoint in"):
    evaluate.select_steps(workdir, [], "latest")


def test_corrupt_checkpoint_is_reported_and_others_still_evaluate(trained, tmp_path):
  config, source = trained
  workdir = str(tmp_path / "corrupt")
  shutil.copytree(source, workdir)
  state_dir = os.path.join(workdir, "checkpoints", "4", "state")
  for name in os.listdir(state_dir):  # lose the array data of step 4
    path = os.path.join(state_dir, name)
    if os.path.isdir(path):
      shutil.rmtree(path)
  rows, errors = evaluate.evaluate_checkpoints(config, workdir, which="all")
  assert [r["step"] for r in rows] == [2, 6]
  assert len(errors) == 1 and "step 4" in errors[0] and "\n" not in errors[0]
  assert [r["step"] for r in _result_rows(workdir)] == [6, 2, 6]  # the trainer's row first


def test_eval_without_checkpoints_is_a_clear_error(tmp_path, trained):
  _, source = trained
  workdir = tmp_path / "empty"
  workdir.mkdir()
  shutil.copy(os.path.join(source, "config.json"), workdir / "config.json")
  result = run_synth("eval", f"--workdir={workdir}", timeout=120)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith("synth: error: no checkpoint in")
  result = run_synth("eval", f"--workdir={tmp_path / 'missing'}", timeout=120)
  assert result.returncode == 2 and "config.json does not exist" in result.stderr


def test_decode_writes_one_line_per_input(trained, tmp_path):
  import io
  from synth.eval.decode_text import decode_file
  config, workdir = trained
  inputs = tmp_path / "prompts.txt"
  inputs.write_text("Return the number of\n\nParse the source into\n")
  out = io.StringIO()
  decode_file(config, workdir, str(inputs), out)
  lines = out.getvalue().split("\n")
  assert len(lines) == 4 and lines[-1] == ""  # three outputs, each on one line


def test_eval_command_line(trained, tmp_path):
  """The `synth eval` command itself: results printed, exit status 0, and errors as one line."""
  _, source = trained
  workdir = str(tmp_path / "cli")
  shutil.copytree(source, workdir)
  result = run_synth("eval", f"--workdir={workdir}", "--checkpoint=latest", timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "step=6 split=validation loss=" in result.stdout
