"""Sources by name -> tokenizer + pipelines, with the vocabulary trained once and cached."""
import re

import numpy as np
import pytest

from synth.config import base_config
from synth.data import tasks
from synth.data.pipeline import BATCH_KEYS

WORDS = "dense random factorized mixture synthesizer attention token query key value".split()


def tiny_texts(split, n):
  rng = np.random.default_rng(["train", "validation", "test"].index(split))
  return [f"{split} {i}: " + " ".join(rng.choice(WORDS, size=rng.integers(2, 30)))
          for i in range(n)]


@pytest.fixture
def tiny_source(monkeypatch):
  """A registered in-memory source, so these tests need neither the stdlib parse nor a download."""
  calls = []

  def source(split, data_dir):
    calls.append(split)
    return tiny_texts(split, 80 if split == "train" else 13)

  monkeypatch.setitem(tasks.SOURCES, "tiny_test", source)
  return calls


def tiny_config(vocab_size=320, **data):
  c = base_config()
  c.model.vocab_size = vocab_size
  c.data.source = "tiny_test"
  c.data.seq_len, c.data.batch_size, c.data.eval_batch_size = 32, 4, 4
  c.data.update(data)
  return c


def test_builds_the_pipelines_and_caches_the_vocabulary(tiny_source, tmp_path):
  c = tiny_config(max_eval_examples=10)
  data = tasks.get_lm_data(c, str(tmp_path), process_index=0, process_count=1)
  path = tmp_path / "vocab" / "spm_320.model"
  assert path.exists() and data.tokenizer.vocab_size <= 320
  batch = next(data.train)
  assert set(batch) == set(BATCH_KEYS) and batch["inputs"].shape == (4, 32)
  assert data.tokenizer.decode(batch["inputs"][0][batch["segment_ids"][0] == 1]).split(":")[0] \
      .startswith("train")
  evals = data.eval_batches("validation")
  assert evals.num_examples == 10  # max_eval_examples
  weight = sum(b["weights"].sum() for b in evals)
  assert weight == sum(len(t) for t in data.tokens("validation")[:10])
  data.eval_batches("validation")
  assert tiny_source.count("validation") == 1  # tokenized once per split
  again = tasks.get_lm_data(c, str(tmp_path), process_index=0, process_count=1)
  assert again.tokenizer.model_proto == data.tokenizer.model_proto == path.read_bytes()


def test_processes_share_the_vocabulary_and_split_the_data(tiny_source, tmp_path, monkeypatch):
  c = tiny_config()
  monkeypatch.setattr(tasks, "VOCAB_WAIT_S", 0.2)
  with pytest.raises(TimeoutError, match="waited 0 s for process 0 to write the vocabulary"):
    tasks.get_lm_data(c, str(tmp_path), process_index=1, process_count=2)
  assert not (tmp_path / "vocab").exists()  # only process 0 trains
  shards = [tasks.get_lm_data(c, str(tmp_path), process_index=i, process_count=2) for i in (0, 1)]
  assert shards[1].tokenizer.model_proto == shards[0].tokenizer.model_proto
  seen = []
  for data in shards:
    assert data.batch_size == 2 and data.eval_batch_size == 2
    examples = set()
    for _ in range(60):
      b = next(data.train)
      assert b["inputs"].shape == (2, 32)
      for r, s in zip(*np.nonzero((b["positions"] == 0) & (b["segment_ids"] > 0))):
        text = data.tokenizer.decode(b["inputs"][r][b["segment_ids"][r] == b["segment_ids"][r, s]])
        match = re.match(r"train (\d+):", text)
        if match:  # the first chunk of an example
          examples.add(int(match.group(1)))
    seen.append(examples)
  assert not seen[0] & seen[1] and seen[0] | seen[1] == set(range(80))
  assert len(shards[0].eval_batches()) == len(shards[1].eval_batches())


def test_python_docs_end_to_end(tmp_path):
  c = base_config()
  c.model.vocab_size = 8000  # the largest quick-to-train size (smaller vocabularies take longer)
  c.data.seq_len, c.data.batch_size = 64, 8
  data = tasks.get_lm_data(c, str(tmp_path))  # process index/count from jax
  assert (tmp_path / "vocab" / "spm_8000.model").exists()
  assert 7000 < data.tokenizer.vocab_size <= 8000
  b = next(data.train)
  assert b["inputs"].shape == (8, 64) and b["weights"].mean() > 0.7
  assert len(data.eval_batches("test")) > 0


def test_bad_configs_fail_clearly(tiny_source, tmp_path):
  with pytest.raises(ValueError, match="unknown data source 'nope'; known sources: .*python_docs"):
    tasks.get_lm_data(tiny_config(source="nope"), str(tmp_path), process_index=0, process_count=1)
  with pytest.raises(ValueError, match="data.batch_size=4 is not divisible by the 3 processes"):
    tasks.get_lm_data(tiny_config(), str(tmp_path), process_index=0, process_count=3)
  big = str(tmp_path / "big.model")
  tasks.get_lm_data(tiny_config(vocab_path=big), str(tmp_path), process_index=0, process_count=1)
  with pytest.raises(ValueError, match="has .* ids but model.vocab_size is 300"):
    tasks.get_lm_data(tiny_config(300, vocab_path=big), str(tmp_path), process_index=0,
                      process_count=1)
  with pytest.raises(ValueError, match="already registered"):
    tasks.register_source("python_docs")(lambda split, data_dir: [])
