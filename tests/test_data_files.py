"""Local files (data.source='files'): good files give batches, bad ones errors naming file and
line; and the trainer runs 2 steps on a seq2seq and a classification task from tiny files."""
import json
import math

import numpy as np
import pytest

from synth.config import load_config
from synth.config import base_config
from synth.data import get_data
from synth.data.classification import CLASSIFICATION_KEYS
from synth.data.files import read_examples
from synth.data.pipeline import BATCH_KEYS
from synth.data.seq2seq import SEQ2SEQ_KEYS
from train_helpers import REPO

WORDS = "dense random factorized mixture synthesizer attention token query key value".split()
VOCAB = 400


def sentences(n, seed=0):
  rng = np.random.default_rng(seed)
  return [" ".join(rng.choice(WORDS, size=rng.integers(2, 9))) for _ in range(n)]


def write(path, lines):
  path.write_text("".join(f"{line}\n" for line in lines))
  return str(path)


def translation_files(tmp_path, fmt="tsv"):
  """input -> the same words reversed, as TSV or JSONL train (40) and eval (9) files."""
  out = []
  for split, n in (("train", 40), ("eval", 9)):
    pairs = [(s, " ".join(reversed(s.split()))) for s in sentences(n, seed=n)]
    if fmt == "tsv":
      lines = ["input\ttarget", *(f"{a}\t{b}" for a, b in pairs)]
    else:
      lines = [json.dumps({"input": a, "target": b}) for a, b in pairs]
    out.append(write(tmp_path / f"{split}.{fmt}", lines))
  return out


def classification_files(tmp_path):
  """text -> 'short'/'long' (by word count), as JSONL train (40) and eval (11) files."""
  out = []
  for split, n in (("train", 40), ("eval", 11)):
    lines = [json.dumps({"text": s, "label": "long" if len(s.split()) > 5 else "short"})
             for s in sentences(n, seed=n)]
    out.append(write(tmp_path / f"{split}.jsonl", lines))
  return out


def files_config(model_kind, train, eval_, fmt, **data):
  c = base_config()
  c.model.kind, c.model.vocab_size = model_kind, VOCAB
  c.data.update(source="files", train_files=train, eval_files=eval_, file_format=fmt,
                seq_len=16, batch_size=4, eval_batch_size=4)
  c.data.update(data)
  return c


def build(config, tmp_path):
  return get_data(config, str(tmp_path / "work"), process_index=0, process_count=1)


# ------------------------------------------------------------------------------------------------
# Good files
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("unit", ["line", "paragraph"])
def test_text_files_train_an_lm(unit, tmp_path):
  lines = sentences(30)
  lines[5] = lines[12] = ""  # blank lines: skipped, or paragraph breaks
  train = write(tmp_path / "a.txt", lines[:20])
  write(tmp_path / "b.txt", lines[20:])
  c = files_config("decoder", str(tmp_path / "*.txt"), train, "text", text_unit=unit)
  data = build(c, tmp_path)
  examples = data.examples("train")
  if unit == "line":
    assert [e["text"] for e in examples] == [s for s in lines if s]
  else:
    assert [e["text"] for e in examples] == ["\n".join(lines[:5]), "\n".join(lines[6:12]),
                                             "\n".join(lines[13:20]), "\n".join(lines[20:])]
  batch = next(data.train)
  assert set(batch) == set(BATCH_KEYS) and batch["inputs"].shape == (4, 16)


@pytest.mark.parametrize("fmt", ["tsv", "jsonl"])
def test_parallel_files_train_an_encoder_decoder(fmt, tmp_path):
  train, eval_ = translation_files(tmp_path, fmt)
  data = build(files_config("encoder_decoder", train, eval_, fmt, max_target_len=12), tmp_path)
  assert data.kind == "seq2seq"
  batch = next(data.train)
  assert set(batch) == set(SEQ2SEQ_KEYS)
  assert batch["inputs"].shape == (4, 16) and batch["targets"].shape == (4, 12)
  first = data.examples("validation")[0]
  pair = data.tokens("validation")[0]
  assert data.tokenizer.decode(pair["targets"]) == first["targets"] == " ".join(
      reversed(first["inputs"].split()))
  assert sum(b["weights"].sum() for b in data.eval_batches()) == sum(
      min(len(p["targets"]), 11) + 1 for p in data.tokens("validation"))


def test_labelled_files_train_a_classifier(tmp_path):
  train, eval_ = classification_files(tmp_path)
  c = files_config("encoder_classifier", train, eval_, "jsonl", label_names=("short", "long"))
  data = build(c, tmp_path)
  batch = next(data.train)
  assert set(batch) == set(CLASSIFICATION_KEYS) and batch["labels"].dtype == np.int32
  for ex in data.examples("validation"):
    assert ex["label"] == int(len(ex["text"].split()) > 5)
  assert sum(b["weights"].sum() for b in data.eval_batches()) == 11
  # Regression: float labels, one output.
  path = write(tmp_path / "scores.tsv", ["text\tlabel", "a b\t0.5", "c\t2"])
  c = files_config("encoder_classifier", path, path, "tsv")
  c.model.num_classes = 1
  assert [e["label"] for e in read_examples([path], c)] == [0.5, 2.0]
  assert next(build(c, tmp_path).train)["labels"].dtype == np.float32


# ------------------------------------------------------------------------------------------------
# Bad files
# ------------------------------------------------------------------------------------------------
def expect_error(config, tmp_path, match):
  with pytest.raises(ValueError, match=match) as e:
    build(config, tmp_path)
  assert "\n" not in str(e.value)


def test_missing_files_are_named(tmp_path):
  good = write(tmp_path / "good.txt", sentences(5))
  missing = str(tmp_path / "nope.txt")
  expect_error(files_config("decoder", missing, good, "text"), tmp_path,
               f"data.train_files: no such file: {missing}")
  expect_error(files_config("decoder", good, str(tmp_path / "*.missing"), "text"), tmp_path,
               "data.eval_files: no file matches .*\\*.missing")
  expect_error(files_config("decoder", good, "", "text"), tmp_path, "needs data.eval_files")


def test_malformed_lines_are_named(tmp_path):
  tsv = write(tmp_path / "bad.tsv", ["input\ttarget", "a\tb", "only one column", "c\td"])
  ok = translation_files(tmp_path)[0]
  expect_error(files_config("encoder_decoder", ok, tsv, "tsv"), tmp_path,
               f"{tsv}:3: expected 2 tab-separated columns \\(input, target\\), got 1")
  no_column = write(tmp_path / "cols.tsv", ["input\toutput", "a\tb"])
  expect_error(files_config("encoder_decoder", no_column, ok, "tsv"), tmp_path,
               f"{no_column}:1: the header has no column 'target'")
  bad_json = write(tmp_path / "bad.jsonl", ['{"text": "a", "label": 1}', '{"text": "b", "lab'])
  expect_error(files_config("encoder_classifier", bad_json, bad_json, "jsonl"), tmp_path,
               f"{bad_json}:2: invalid JSON")
  no_field = write(tmp_path / "field.jsonl", ['{"text": "a", "label": 1}', "", '{"text": "b"}'])
  expect_error(files_config("encoder_classifier", no_field, no_field, "jsonl"), tmp_path,
               f"{no_field}:3: no field 'label'")
  bad_label = write(tmp_path / "label.jsonl", ['{"text": "a", "label": 1}', '{"text": "b", '
                                                                           '"label": 7}'])
  expect_error(files_config("encoder_classifier", bad_label, bad_label, "jsonl"), tmp_path,
               f"{bad_label}:2: label 7 is not a class id 0..1")
  named = files_config("encoder_classifier", bad_label, bad_label, "jsonl",
                       label_names=("neg", "pos"))
  expect_error(named, tmp_path, f"{bad_label}:1: label 1 is not one of data.label_names")
  not_text = write(tmp_path / "types.jsonl", ['{"input": 3, "target": "x"}'])
  expect_error(files_config("encoder_decoder", not_text, not_text, "jsonl"), tmp_path,
               f"{not_text}:1: field 'input' is not a string")
  binary = tmp_path / "binary.txt"
  binary.write_bytes(b"fine\n\xff\xfe broken\n")
  expect_error(files_config("decoder", str(binary), str(binary), "text"), tmp_path,
               f"{binary}:2: not valid UTF-8")
  expect_error(files_config("encoder_classifier", str(binary), str(binary), "text"), tmp_path,
               "file_format='text' holds LM text")


# ------------------------------------------------------------------------------------------------
# The trainer end to end
# ------------------------------------------------------------------------------------------------
def tiny(config):
  """A 1-layer, 32-wide model trained for 2 steps over the 8 simulated devices."""
  config.model.update(vocab_size=VOCAB, d_model=32, num_heads=2, d_ff=64, num_encoder_layers=1,
                      num_decoder_layers=1, max_len=32, dropout_rate=0.0)
  config.data.update(seq_len=32, max_input_len=32, max_target_len=16, batch_size=8,
                     eval_batch_size=8)
  config.optimizer.update(warmup_steps=1)
  config.train.update(num_steps=2, log_every=1, eval_every=2, checkpoint_every=2)
  config.eval.num_samples = 0
  return config


@pytest.mark.parametrize("task", ["translation", "classification"])
def test_trainer_runs_two_steps_from_local_files(task, tmp_path):
  from synth.train import trainer
  if task == "translation":
    train, eval_ = translation_files(tmp_path)
    arg = f"train={train},eval={eval_}"
  else:
    train, eval_ = classification_files(tmp_path)
    arg = f"train={train},eval={eval_},format=jsonl"
  config = tiny(load_config(f"{REPO}/configs/files_{task}.py:{arg}"))
  if task == "classification":
    config.data.label_names = ("short", "long")
  workdir = tmp_path / "run"
  metrics = trainer.train(config, str(workdir))
  assert math.isfinite(metrics["loss"]) and metrics["tokens"] > 0
  logged = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in logged if "loss" in r] == [1, 2]
  assert (workdir / "vocab" / f"spm_{VOCAB}.model").exists()
