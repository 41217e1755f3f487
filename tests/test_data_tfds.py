"""Every TFDS task through the real code path (tfds.data_source under tfds.testing.mock_data),
the text-to-text forms, span corruption on C4, and the error for a dataset that is not there."""
import numpy as np
import pytest
import tensorflow_datasets as tfds

from synth.config import base_config
from synth.data import TASKS, DataTask, get_data, glue_tasks, tfds_tasks
from synth.data.classification import CLASSIFICATION_KEYS
from synth.data.pipeline import BATCH_KEYS
from synth.data.seq2seq import SEQ2SEQ_KEYS
from synth.data.tasks import label_text

TFDS_TASKS = sorted(n for n, t in TASKS.items() if t.source.__module__ == tfds_tasks.__name__)
MODEL_KIND = {"lm": "decoder", "seq2seq": "encoder_decoder",
              "classification": "encoder_classifier", "regression": "encoder_classifier"}
SPM_SIZE, EXTRA_IDS = 300, 100
SEQ_LEN, BATCH = 24, 4
NUM_EXAMPLES = 10


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
  """One vocabulary for the module (trained by the first test that needs it, on mock text)."""
  return str(tmp_path_factory.mktemp("vocab") / f"spm_{SPM_SIZE}.model")


def config_for(name: str, vocab_path: str, model_kind: str | None = None):
  c = base_config()
  task = TASKS[name]
  kind = task.kind_for(c)
  c.data.update(source=name, vocab_path=vocab_path, seq_len=SEQ_LEN, batch_size=BATCH,
                eval_batch_size=BATCH, vocab_train_examples=50)
  c.model.vocab_size = SPM_SIZE
  c.model.kind = model_kind or MODEL_KIND[kind]
  c.model.num_classes = 1 if kind == "regression" else max(len(task.label_names), 2)
  if name == "c4_span":
    c.model.vocab_size = SPM_SIZE + EXTRA_IDS
    c.data.update(extra_ids=EXTRA_IDS, max_input_len=32, max_target_len=16)
  return c


def check_batch(batch, model_kind, config):
  input_len = config.data.max_input_len or SEQ_LEN
  target_len = config.data.max_target_len or SEQ_LEN
  keys = {"decoder": BATCH_KEYS, "encoder_decoder": SEQ2SEQ_KEYS,
          "encoder_classifier": CLASSIFICATION_KEYS}[model_kind]
  assert set(batch) == set(keys)
  for k, v in batch.items():
    if model_kind == "encoder_classifier" and k != "inputs":
      shape = (BATCH,)
    elif model_kind == "encoder_decoder":
      shape = (BATCH, input_len if k.startswith("inputs") else target_len)
    else:
      shape = (BATCH, SEQ_LEN)
    assert v.shape == shape, k
    floats = k == "weights" or (k == "labels" and config.model.num_classes == 1)
    assert v.dtype == (np.float32 if floats else np.int32), k
  assert batch["weights"].sum() > 0
  assert 0 <= batch["inputs"].min() and batch["inputs"].max() < config.model.vocab_size


def test_every_paper_dataset_is_a_task():
  assert set(TFDS_TASKS) >= {
      "lm1b", "c4", "c4_span", "wmt14/en-de", "wmt14/de-en", "wmt14/en-fr", "wmt14/fr-en",
      "cnn_dailymail", "ag_news_subset", "imdb_reviews", "super_glue/record",
      *(f"glue/{t}" for t in ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte",
                               "wnli")),
      *(f"super_glue/{t}" for t in ("boolq", "cb", "copa", "multirc", "rte", "wic", "wsc.fixed"))}


@pytest.mark.parametrize("name", TFDS_TASKS)
def test_task_builds_batches_through_tfds_data_source(name, vocab, tmp_path):
  c = config_for(name, vocab)
  with tfds.testing.mock_data(num_examples=NUM_EXAMPLES):
    data = get_data(c, str(tmp_path), process_index=0, process_count=1)
    assert data.kind == TASKS[name].kind_for(c) and data.tokenizer.vocab_size <= SPM_SIZE
    check_batch(next(data.train), c.model.kind, c)
    evals = data.eval_batches("validation")
    assert len(data.examples("validation")) == NUM_EXAMPLES
    assert len(evals) > 0
    total = sum(b["weights"].sum() for b in evals)
  if c.model.kind == "encoder_classifier":
    assert total == NUM_EXAMPLES  # every example once, padding rows weigh 0
  else:
    assert total == evals.num_tokens > 0


@pytest.mark.parametrize("name", ["glue/mnli", "glue/stsb", "super_glue/wsc.fixed"])
def test_classification_tasks_train_text_to_text(name, vocab, tmp_path):
  c = config_for(name, vocab, model_kind="encoder_decoder")
  with tfds.testing.mock_data(num_examples=NUM_EXAMPLES):
    data = get_data(c, str(tmp_path), process_index=0, process_count=1)
    check_batch(next(data.train), "encoder_decoder", c)
    pairs, examples = data.tokens("validation"), data.examples("validation")
  tok, kind = data.tokenizer, TASKS[name].kind_for(c)
  for pair, ex in zip(pairs, examples):
    assert tok.decode(pair["inputs"]) == ex["text"]
    assert tok.decode(pair["targets"]) == label_text(kind, data.label_names, ex["label"])
  benchmark = name.split("/")[1].split(".")[0]
  assert examples[0]["text"].startswith(f"{benchmark} ")
  if name == "glue/mnli":
    assert examples[0]["text"].startswith("mnli hypothesis: ") and " premise: " in ex["text"]
    assert tok.decode(pairs[0]["targets"]) in ("entailment", "neutral", "contradiction")


def test_translation_direction_and_splits(vocab, tmp_path):
  with tfds.testing.mock_data(num_examples=NUM_EXAMPLES):
    record = tfds.data_source("wmt14_translate/de-en", split="validation")[3]
    forward, backward = (get_data(config_for(n, vocab), str(tmp_path), process_index=0,
                                  process_count=1).examples("validation")[3]
                         for n in ("wmt14/en-de", "wmt14/de-en"))
  assert forward == {"inputs": record["en"], "targets": record["de"]}
  assert backward == {"inputs": record["de"], "targets": record["en"]}


def test_span_corruption_on_c4(vocab, tmp_path):
  c = config_for("c4_span", vocab)
  with tfds.testing.mock_data(num_examples=NUM_EXAMPLES):
    data = get_data(c, str(tmp_path), process_index=0, process_count=1)
    batch = next(data.train)
    pairs = data.tokens("validation")
  real = batch["targets"][batch["weights"] > 0]
  sentinels = real[real >= SPM_SIZE]
  assert len(sentinels) and (sentinels < SPM_SIZE + EXTRA_IDS).all()
  assert (batch["targets"][:, 0] >= SPM_SIZE).any()  # targets open with a sentinel
  for pair, ex in zip(pairs, data.examples("validation")):
    assert sorted(t for t in [*pair["inputs"], *pair["targets"]] if t < SPM_SIZE) == sorted(
        data.tokenizer.encode(ex["text"]))
  bad = config_for("c4_span", vocab)
  bad.data.extra_ids = 1
  with pytest.raises(ValueError, match="needs .* sentinel ids but data.extra_ids is 1"):
    get_data(bad, str(tmp_path), process_index=0, process_count=1)
  bad = config_for("c4_span", vocab)
  bad.data.max_target_len = 4
  with pytest.raises(ValueError, match="makes 8 target tokens but data.max_target_len is 4"):
    get_data(bad, str(tmp_path), process_index=0, process_count=1)


class SynthTinyPairs(tfds.core.GeneratorBasedBuilder):
  """A tiny translation dataset that a test really prepares as ArrayRecord (no mock)."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
        {"en": tfds.features.Text(), "de": tfds.features.Text()}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples(12), "validation": self._generate_examples(3)}

  def _generate_examples(self, n):
    for i in range(n):
      yield i, {"en": f"hello {i}", "de": f"hallo {i}"}


def test_a_prepared_array_record_dataset_is_read_for_real(vocab, tmp_path, monkeypatch):
  data_dir = str(tmp_path / "tfds")
  SynthTinyPairs(data_dir=data_dir, file_format="array_record").download_and_prepare()
  source = tfds_tasks.tfds_source("synth_tiny_pairs", tfds_tasks.translation("en", "de"))
  monkeypatch.setitem(TASKS, "tiny_pairs",
                      DataTask(name="tiny_pairs", kind="seq2seq", source=source))
  c = config_for("tiny_pairs", vocab)
  c.data.data_dir = data_dir
  shards = [get_data(c, str(tmp_path), process_index=i, process_count=2) for i in (0, 1)]
  # Records come back as bytes from ArrayRecord (in the order TFDS shuffled them when it
  # prepared the dataset): the examples are str.
  examples = shards[1].examples("validation")
  assert sorted(e["inputs"] for e in examples) == [f"hello {i}" for i in range(3)]
  assert all(e["targets"] == e["inputs"].replace("hello", "hallo") for e in examples)
  seen = []
  for data in shards:
    texts = set()
    for b in (next(data.train) for _ in range(8)):
      for r, k in zip(*np.nonzero(b["inputs_positions"] == 0)):
        if b["inputs_segment_ids"][r, k]:
          seg = b["inputs_segment_ids"][r] == b["inputs_segment_ids"][r, k]
          texts.add(data.tokenizer.decode(b["inputs"][r][seg]))
    seen.append(texts)
  assert not seen[0] & seen[1] and seen[0] | seen[1] == {f"hello {i}" for i in range(12)}


@pytest.mark.parametrize("name,dataset", [("lm1b", "lm1b"), ("glue/cola", "glue/cola")])
def test_missing_dataset_is_one_clear_line(name, dataset, vocab, tmp_path):
  c = config_for(name, vocab)
  c.data.data_dir = str(tmp_path / "tfds")
  with pytest.raises(ValueError) as e:
    get_data(c, str(tmp_path), process_index=0, process_count=1)
  message = str(e.value)
  assert "\n" not in message
  assert f"TFDS dataset '{dataset}' is not prepared" in message
  assert f"data_dir {tmp_path / 'tfds'}" in message
  assert f"tfds build {dataset} --data_dir={tmp_path / 'tfds'} --file_format=array_record" \
      in message
  assert not (tmp_path / "vocab").exists()  # raised before any work


def test_model_kind_and_classes_are_checked(vocab, tmp_path):
  with pytest.raises(ValueError, match="data.source 'lm1b' is a lm task: model.kind must be "
                                       "'decoder', got 'encoder_classifier'"):
    get_data(config_for("lm1b", vocab, "encoder_classifier"), str(tmp_path), process_index=0,
             process_count=1)
  with pytest.raises(ValueError, match="'wmt14/en-de' is a seq2seq task: model.kind must be "
                                       "'encoder_decoder', got 'decoder'"):
    get_data(config_for("wmt14/en-de", vocab, "decoder"), str(tmp_path), process_index=0,
             process_count=1)
  c = config_for("glue/mnli", vocab)
  c.model.num_classes = 2
  with pytest.raises(ValueError, match="'glue/mnli' has 3 classes, but model.num_classes is 2"):
    get_data(c, str(tmp_path), process_index=0, process_count=1)


def test_t5_formats():
  record = {"sentence1": b"A man plays.", "sentence2": "Someone plays.", "label": np.array(3.37)}
  assert glue_tasks._stsb(record) == {
      "text": "stsb sentence1: A man plays. sentence2: Someone plays.", "label": 3.37}
  assert label_text("regression", (), 3.37) == "3.4" and label_text("regression", (), 0) == "0.0"
  assert label_text("classification", ("no", "yes"), -1) == "<unk>"
  wsc = {"text": b"Mark told Pete many lies about himself , which Pete included in his book .",
         "span1_text": b"Pete", "span1_index": np.array(2), "span2_text": b"himself",
         "span2_index": np.array(6), "label": np.array(0)}
  assert glue_tasks._wsc(wsc)["text"] == ("wsc text: Mark told * Pete * many lies about # himself "
                                          "# , which Pete included in his book .")
  rec = {"passage": b"Rain fell.\n@highlight\nIt was cold\n@highlight\nEnd",
         "query": b"@placeholder won", "entities": np.array([b"Bob", b"Ann"]),
         "answers": np.array([b"Ann", b"Ann"])}
  out = glue_tasks._record(rec)
  assert out["inputs"] == ("record query: @placeholder won entities: Bob, Ann passage: Rain fell. "
                           "It was cold. End")
  assert out["targets"] == "Ann" and out["answers"] == ["Ann", "Ann"]
