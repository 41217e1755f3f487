"""synth.load: a trained run in Python, its generate and score, and their bad input."""
import math
import os
import shutil

import jax
import numpy as np
import pytest

import synth
from synth.data.pipeline import lm_pairs
from synth.kinds import model_kind
from synth.train import checkpoints as ckpt
from synth.train import losses, trainer
from train_helpers import tiny_config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A tiny LM trained 8 steps (checkpoints at 4 and 8), loaded at its latest checkpoint."""
  root = tmp_path_factory.mktemp("api")
  config = tiny_config(str(root / "spm_500.model"),
                       **{"train.num_steps": 8, "train.checkpoint_every": 4,
                          "train.eval_every": 0})
  workdir = str(root / "run")
  trainer.train(config, workdir)
  return synth.load(workdir)


TEXTS = ["def parse(text):", "import os", "class Loader(object):\n    pass"]


def test_load_restores_the_latest_checkpoint_and_its_parts(run):
  assert run.step == 8
  assert run.model_config.kind == "decoder"
  assert run.tokenizer.decode(run.tokenizer.encode("import os")) == "import os"
  earlier = synth.load(run.workdir, checkpoint=4)
  assert earlier.step == 4
  moved = jax.tree.leaves(run.state["params"])[0] - jax.tree.leaves(earlier.state["params"])[0]
  assert float(np.abs(np.asarray(moved)).max()) > 0  # two different checkpoints


def test_score_matches_the_training_loss_on_the_same_tokens(run):
  """Each text's -log_prob is the summed cross-entropy the trainer's loss computes for it."""
  scores = run.score(TEXTS)
  model = run.model
  for text, score in zip(TEXTS, scores):
    pairs = lm_pairs(run.tokenizer.encode(text))
    batch = {k: v[None] for k, v in pairs.items()}
    logits = model_kind("decoder").outputs(model, batch)
    loss_sum, weight_sum = losses.cross_entropy(logits, batch["targets"], batch["weights"])
    assert score["tokens"] == int(weight_sum) == len(pairs["targets"])
    np.testing.assert_allclose(-score["log_prob"], float(loss_sum), rtol=1e-5)
    assert score["perplexity"] == pytest.approx(math.exp(float(loss_sum) / int(weight_sum)))


def test_a_text_scores_the_same_alone_or_among_others(run):
  """Padding and the other rows of a batch do not leak into a text's score."""
  together = run.score(TEXTS)
  alone = [run.score([t])[0] for t in TEXTS]
  for a, b in zip(together, alone):
    assert a["log_prob"] == pytest.approx(b["log_prob"], rel=1e-5) and a["tokens"] == b["tokens"]
  # The property has teeth: different texts score differently.
  assert len({round(s["log_prob"], 3) for s in together}) == len(TEXTS)


def test_generate_is_synth_decode_and_takes_eval_settings(run):
  from synth.eval.decode_text import decode_lines
  greedy = run.generate(TEXTS, method="greedy", max_decode_len=16)
  assert len(greedy) == len(TEXTS)
  assert greedy == run.generate(TEXTS, method="greedy", max_decode_len=16)  # deterministic
  config = run.config.copy_and_resolve_references()
  config.eval.update(method="greedy", max_decode_len=16)
  assert decode_lines(config, run.workdir, TEXTS) == greedy
  # One greedy token is the argmax of the model's next-token logits after the prompt.
  ids = run.tokenizer.encode(TEXTS[1])
  logits = run.model(np.asarray([ids], np.int32))
  (one,) = run.generate([TEXTS[1]], method="greedy", max_decode_len=len(ids) + 1)
  assert one == run.tokenizer.decode([int(np.argmax(np.asarray(logits)[0, -1]))])


def test_bad_input_is_one_clear_error(run, tmp_path):
  with pytest.raises(ValueError, match=r"unknown eval settings \['beams'\]"):
    run.generate(TEXTS, beams=2)
  with pytest.raises(ValueError, match="pass no targets"):
    run.score(TEXTS, targets=TEXTS)
  too_long = " ".join(["word"] * 200)
  with pytest.raises(ValueError, match=r"text 0 is \d+ tokens; this model scores at most "
                                       r"model.max_len=32"):
    run.score([too_long])
  with pytest.raises(ckpt.CheckpointError, match=r"no checkpoint step 5 .*there are: 4, 8"):
    synth.load(run.workdir, checkpoint=5)
  with pytest.raises(ValueError, match="checkpoint must be 'latest' or a step number"):
    synth.load(run.workdir, checkpoint="best")
  with pytest.raises(FileNotFoundError, match="config.json does not exist: is .* a synth workdir"):
    synth.load(str(tmp_path / "nothing"))


def test_import_synth_stays_light():
  import subprocess
  import sys
  code = "import sys, synth; print('jax' in sys.modules, hasattr(synth, 'load'))"
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
  assert out.split() == ["False", "True"]


def test_export_round_trips_exactly(run, tmp_path):
  """An export loads without the workdir and gives the checkpoint's logits, bit for bit."""
  from synth.export import export_run
  out = tmp_path / "exported"
  record = export_run(run.workdir, str(out))
  assert record["step"] == 8
  assert sorted(os.listdir(out)) == ["config.json", "export.json", "params.safetensors", "vocab"]
  moved = tmp_path / "elsewhere"
  shutil.move(str(out), moved)  # nothing in it points back to the workdir or its own old path
  again = synth.load(str(moved))
  assert again.step == 8
  batch = np.asarray([run.tokenizer.encode(t)[:8] for t in TEXTS if len(
      run.tokenizer.encode(t)) >= 8], np.int32)
  np.testing.assert_array_equal(np.asarray(again.model(batch)), np.asarray(run.model(batch)))
  assert again.score(TEXTS) == run.score(TEXTS)
  assert again.generate(TEXTS, method="greedy") == run.generate(TEXTS, method="greedy")


def test_export_of_frozen_parameters(tmp_path):
  """Fixed Random's frozen R travels in frozen.safetensors and comes back as it was."""
  from synth.export import export_run
  config = tiny_config(str(tmp_path / "spm_500.model"),
                       **{"model.variant": "fixed_random", "train.num_steps": 2,
                          "train.checkpoint_every": 2, "train.eval_every": 0})
  trainer.train(config, str(tmp_path / "run"))
  export_run(str(tmp_path / "run"), str(tmp_path / "out"))
  assert (tmp_path / "out" / "frozen.safetensors").exists()
  original, exported = synth.load(str(tmp_path / "run")), synth.load(str(tmp_path / "out"))
  for a, b in zip(jax.tree.leaves(original.state["frozen"]), jax.tree.leaves(
      exported.state["frozen"])):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_export_never_overwrites_and_rejects_a_damaged_export(run, tmp_path):
  from safetensors import numpy as safe_numpy

  from synth.export import export_run
  taken = tmp_path / "taken"
  taken.mkdir()
  (taken / "mine.txt").write_text("keep")
  with pytest.raises(ValueError, match="exists and is not empty: choose a new one"):
    export_run(run.workdir, str(taken))
  assert os.listdir(taken) == ["mine.txt"]
  out = tmp_path / "out"
  export_run(run.workdir, str(out))
  arrays = safe_numpy.load_file(str(out / "params.safetensors"))
  name = sorted(arrays)[0]
  arrays[name] = arrays[name][:1]
  safe_numpy.save_file(arrays, str(out / "params.safetensors"))
  with pytest.raises(ValueError, match=rf"does not fit the model of its config.json: {name}: "
                                       r"file \(1,"):
    synth.load(str(out))
  with pytest.raises(ValueError, match="is an export"):
    synth.load(str(out), checkpoint=4)


def test_export_command_line(run, tmp_path):
  from train_helpers import run_synth
  result = run_synth("export", f"--workdir={run.workdir}", f"--out={tmp_path / 'out'}",
                     "--checkpoint=4", timeout=180)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip().endswith(f"exported step 4 of {run.workdir} to {tmp_path / 'out'}")
  again = run_synth("export", f"--workdir={run.workdir}", f"--out={tmp_path / 'out'}",
                    timeout=180)
  assert again.returncode == 2
  assert again.stderr.strip().splitlines()[-1].startswith(
      f"synth: error: export directory {tmp_path / 'out'} exists and is not empty")
