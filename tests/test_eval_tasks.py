"""Task metrics at the end of training: BLEU for translation, accuracy for classification,
through the real trainer, the decoding loop and the metrics, on tiny local files."""
import json
import os
import sys

import numpy as np
import pytest

from synth.eval import task_metrics
from synth.eval.evaluate import evaluate_checkpoints
from synth.train import trainer
from train_helpers import REPO

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def _config(name: str, **files):
  sys.path.insert(0, REPO)
  module = __import__(f"configs.{name}", fromlist=["get_config"])
  c = module.get_config(",".join(f"{k}={v}" for k, v in files.items()))
  c.model.update(vocab_size=300, d_model=32, num_heads=2, d_ff=64, num_encoder_layers=1,
                 num_decoder_layers=1, max_len=32, dropout_rate=0.0)
  c.data.update(seq_len=32, max_input_len=32, max_target_len=32, batch_size=8,
                eval_batch_size=8)
  c.optimizer.update(warmup_steps=2, learning_rate=3e-3, label_smoothing=0.0)
  c.train.update(num_steps=4, log_every=2, eval_every=0, checkpoint_every=4)
  c.eval.update(num_samples=2, beam_size=2, max_decode_len=12)
  return c


def test_translation_run_reports_bleu(tmp_path):
  rng = np.random.default_rng(0)
  for split, n in (("train", 64), ("dev", 12)):
    rows = ["input\ttarget"] + [
        "{0}\t{0}".format(" ".join(rng.choice(WORDS, 5))) for _ in range(n)]
    (tmp_path / f"{split}.tsv").write_text("\n".join(rows) + "\n")
  config = _config("files_translation", train=tmp_path / "train.tsv", eval=tmp_path / "dev.tsv")
  workdir = str(tmp_path / "run")
  metrics = trainer.train(config, workdir)
  assert {"bleu", "tokenized_bleu"} <= set(metrics) and 0 <= metrics["bleu"] <= 100
  rows, errors = evaluate_checkpoints(config, workdir)
  assert not errors and rows[0]["bleu"] == pytest.approx(metrics["bleu"])
  with open(os.path.join(workdir, "samples", "validation_step4.txt")) as f:
    assert f.read().count("prediction:") == 2


def test_classification_run_reports_accuracy(tmp_path):
  rng = np.random.default_rng(1)
  for split, n in (("train", 64), ("dev", 10)):
    lines = []
    for _ in range(n):
      label = int(rng.integers(2))
      words = rng.choice(WORDS[:6] if label else WORDS[6:], 4)
      lines.append(json.dumps({"text": " ".join(words), "label": label}))
    (tmp_path / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
  config = _config("files_classification", train=tmp_path / "train.jsonl",
                   eval=tmp_path / "dev.jsonl", format="jsonl")
  metrics = trainer.train(config, str(tmp_path / "run"))
  assert 0 <= metrics["accuracy"] <= 100
  # 10 eval examples, every one counted once: accuracy is a multiple of 10%.
  assert metrics["accuracy"] % 10 == pytest.approx(0, abs=1e-6)


def test_metric_names_and_glue_mapping():
  from synth.config import base_config
  c = base_config()
  assert task_metrics.metric_names(c, "seq2seq") == ("bleu", "tokenized_bleu")
  c.data.source = "glue/cola"
  assert task_metrics.metric_names(c, "classification") == ("glue",)
  scores = task_metrics.score(("glue",), c, predictions=[1, 0, 1, 1], references=[1, 0, 0, 1])
  assert set(scores) == {"matthews_corrcoef"}
  c.eval.metrics = "rouge,nope"
  with pytest.raises(ValueError, match="unknown eval.metrics"):
    task_metrics.metric_names(c, "seq2seq")
  assert list(task_metrics.label_ids(["yes", " no", "maybe"], ("no", "yes"))) == [1, 0, -1]


def test_decoding_reads_each_input_as_training_does(tmp_path):
  """The encoder rows `synth eval` decodes from are the training features' inputs: cut to
  data.max_input_len - 1 tokens and ended with eos (a model trained on inputs that end in eos
  reads text it never saw otherwise)."""
  import jax.numpy as jnp

  from synth.data.seq2seq import features
  from synth.data.tasks import get_data
  from synth.eval.evaluate import Evaluator, eval_mesh
  from synth.train import restore

  rng = np.random.default_rng(2)
  for split, n, length in (("train", 16, 5), ("dev", 6, 40)):  # dev inputs too long to fit
    rows = ["input\ttarget"] + [
        "{0}\t{0}".format(" ".join(rng.choice(WORDS, length))) for _ in range(n)]
    (tmp_path / f"{split}.tsv").write_text("\n".join(rows) + "\n")
  config = _config("files_translation", train=tmp_path / "train.tsv", eval=tmp_path / "dev.tsv")
  config.train.num_steps = config.train.checkpoint_every = 1
  workdir = str(tmp_path / "run")
  trainer.train(config, workdir)
  mesh = eval_mesh(config)
  layout, state, rngs = restore.load_checkpoint(config, workdir, mesh)
  data = get_data(config, workdir)
  evaluator = Evaluator(config, workdir, mesh, layout, data)
  real = evaluator._generator()
  seen = []

  def recording(model_state, inputs, rng):
    seen.append(np.asarray(inputs))
    return real(model_state, inputs, rng)
  evaluator._generate = recording
  evaluator.seq2seq_outputs(state, rngs, "validation")
  decoded = np.concatenate(seen)[:6]
  for row, pair in zip(decoded, data.tokens("validation")):
    want = features(pair, 32, 32)["inputs"]
    assert len(pair["inputs"]) > 32 and len(want) == 32 and want[-1] == 1
    np.testing.assert_array_equal(row[:len(want)], want)
  assert jnp.all(decoded[:, -1] == 1)
