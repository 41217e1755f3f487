"""PersonaChat end to end: `synth train` then `synth eval` with configs/personachat.py on ParlAI
files the test writes, shrunk to a tiny model, scored with the paper's four dialogue metrics."""
import json
import os

from test_data_personachat import write_split
from train_helpers import run_synth

TINY = {
    "model.vocab_size": 400, "model.d_model": 32, "model.num_heads": 2, "model.d_ff": 64,
    "model.num_encoder_layers": 1, "model.num_decoder_layers": 1, "model.max_len": 32,
    "data.seq_len": 32, "data.max_input_len": 32, "data.max_target_len": 16,
    "data.batch_size": 8, "data.eval_batch_size": 8, "data.read_threads": 0,
    "data.max_eval_examples": 8, "optimizer.warmup_steps": 1, "train.num_steps": 2,
    "train.log_every": 1, "train.eval_every": 0, "train.checkpoint_every": 2,
    "eval.beam_size": 2, "eval.max_decode_len": 8, "eval.no_repeat_ngram_size": 2,
    "eval.num_samples": 2,
}


def test_train_and_eval_report_bleu1_rouge_l_meteor_cider(tmp_path):
  for split in ("train", "valid"):
    write_split(tmp_path, split, "revised", copies=8)
  workdir = tmp_path / "run"
  flags = [f"--config.{k}={v}" for k, v in TINY.items()]
  train = run_synth("train", f"--config=configs/personachat.py:persona=revised,"
                    f"data_dir={tmp_path}", *flags, f"--workdir={workdir}", timeout=300)
  assert train.returncode == 0, train.stderr[-2000:]
  evaluated = run_synth("eval", f"--workdir={workdir}", timeout=300)
  assert evaluated.returncode == 0, evaluated.stderr[-2000:]
  with open(os.path.join(workdir, "eval_results.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  assert [(r["source"], r["step"]) for r in rows] == [("train", 2), ("eval", 2)]
  for row in rows:
    assert row["split"] == "validation"
    for key in ("bleu1", "rougeL", "meteor", "cider"):
      assert 0.0 <= row[key] <= 1000.0, (key, row[key])  # CIDEr-D x 100 tops out at 1000
  assert rows[1]["meteor"] == rows[0]["meteor"] and rows[1]["cider"] == rows[0]["cider"]
  with open(os.path.join(workdir, "samples", "validation_step2.txt")) as f:
    samples = f.read()
  assert samples.count("prediction:") == 2 and "your persona" in samples
