"""The synthetic diagnostics (mqar, listops): determinism, correct labels and answers, knobs, no
split leakage, answer-only loss weights, one-line errors, and a tiny training run of each.

Every property is checked by a function that reports what is wrong, and each check is also shown
to fail on a case built to break it (a corrupted label, an unfiltered split, other knobs), so
none of these tests can pass vacuously.
"""
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

from synth.config import base_config
from synth.data import get_data, get_task
from synth.data.diagnostics import common, listops, mqar
from synth.data.pipeline import WeightedTokens, lm_eval_batches, lm_train_iterator
from synth.data.symbols import SymbolVocabulary
from synth.token_ids import EOS_ID

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from configs.listops import get_config as listops_config  # noqa: E402
from configs.mqar import get_config as mqar_config  # noqa: E402

MQAR = mqar.MQARKnobs(vocab_size=32, num_pairs=6, num_queries=3, seq_len=24, train_examples=5000,
                      eval_examples=200)
LISTOPS = listops.ListOpsKnobs(min_length=8, max_length=48, max_depth=4, max_args=5,
                               train_examples=5000, eval_examples=200)


def mqar_split(split, knobs=MQAR):
  c = base_config()
  c.data.mqar = vars_of(knobs)
  return mqar.source(split, c)


def listops_split(split, knobs=LISTOPS):
  c = base_config()
  c.data.listops = vars_of(knobs)
  return listops.source(split, c)


def vars_of(knobs) -> dict:
  import dataclasses
  return dataclasses.asdict(knobs)


def replace(knobs, **changes):
  import dataclasses
  return dataclasses.replace(knobs, **changes)


# ------------------------------------------------------------------------------------------------
# Independent checkers: each returns a list of what is wrong with an example ([] = nothing).
# ------------------------------------------------------------------------------------------------

def recall_errors(example: dict, knobs: mqar.MQARKnobs) -> list[str]:
  """What breaks MQAR's contract: the layout the knobs ask for, and every weighted token being
  the value its preceding query key has in the pairs (parsed from the text alone)."""
  tokens, weights = example["text"].split(), example["weights"]
  errors = []
  if len(tokens) != knobs.seq_len or len(weights) != len(tokens):
    errors.append(f"{len(tokens)} tokens, {len(weights)} weights, want {knobs.seq_len}")
    return errors
  context = tokens[:2 * knobs.num_pairs]
  keys, values = context[0::2], context[1::2]
  if not all(k.startswith("k") for k in keys) or not all(v.startswith("v") for v in values):
    errors.append(f"pairs are not key-value: {context}")
  if len(set(keys)) != knobs.num_pairs:
    errors.append(f"keys repeat: {keys}")
  pairs = dict(zip(keys, values))
  answers = [i for i, w in enumerate(weights) if w]
  if len(answers) != knobs.num_queries:
    errors.append(f"{len(answers)} answers, want {knobs.num_queries}")
  asked = [tokens[i - 1] for i in answers]
  if len(set(asked)) != len(asked):
    errors.append(f"a key is asked twice: {asked}")
  for i in answers:
    if i < 2 * knobs.num_pairs + 1:
      errors.append(f"answer at {i} inside the pairs")
    elif pairs.get(tokens[i - 1]) != tokens[i]:
      errors.append(f"answer {tokens[i]} at {i} is not the value of {tokens[i - 1]}")
  rest = [t for i, t in enumerate(tokens[2 * knobs.num_pairs:], 2 * knobs.num_pairs)
          if i not in answers and i + 1 not in answers]
  if any(t != mqar.FILLER for t in rest):
    errors.append(f"the tail holds more than queries and filler: {rest}")
  return errors


def listops_errors(example: dict, knobs: listops.ListOpsKnobs) -> list[str]:
  """What breaks ListOps' contract: the label the reference evaluator computes, the length range
  and the depth the knobs allow."""
  errors = []
  n = len(example["text"].split())
  if not knobs.min_length <= n <= knobs.max_length:
    errors.append(f"length {n} outside [{knobs.min_length}, {knobs.max_length}]")
  if listops.depth(example["text"]) > knobs.max_depth:
    errors.append(f"depth {listops.depth(example['text'])} > {knobs.max_depth}")
  if listops.evaluate(example["text"]) != example["label"]:
    errors.append(f"label {example['label']} != value {listops.evaluate(example['text'])}")
  return errors


# ------------------------------------------------------------------------------------------------
# The fixed vocabulary and the general per-token weights of the LM pipeline.
# ------------------------------------------------------------------------------------------------

def test_symbol_vocabulary():
  vocab = SymbolVocabulary(["[MAX", "]", "7"], name="t")
  assert vocab.vocab_size == 6 and vocab.encode("[MAX 7 7 ]") == [3, 5, 5, 4]
  assert vocab.decode([3, 5, 0, 1, 99]) == "[MAX 7 <unk>"  # pad/eos skipped, unknown id = unk
  assert vocab.encode("8") == [vocab.unk_id]
  assert listops.VOCABULARY.vocab_size == 18  # 4 operators, ']', 10 digits + pad/eos/unk
  with pytest.raises(ValueError, match="symbols must be unique, got duplicates"):
    SymbolVocabulary(["a", "b", "a"])
  with pytest.raises(ValueError, match="hold no whitespace"):
    SymbolVocabulary(["a b"])


@pytest.mark.parametrize("pack", [True, False])
def test_weighted_tokens_keep_their_weights_through_the_lm_pipeline(pack):
  """Weights follow their targets through the shift, chunking and packing: weight 1 exactly where
  the target token is even (eos never), here with chunks longer than a row."""
  rng = np.random.default_rng(0)
  ids = [rng.integers(3, 20, size=rng.integers(2, 30)) for _ in range(40)]
  weighted = [WeightedTokens(t, (t % 2 == 0).astype(np.float32)) for t in ids]

  def wrong(batch):  # positions whose weight is not 'target is an even token'
    real = batch["segment_ids"] > 0
    want = real & (batch["targets"] % 2 == 0) & (batch["targets"] != EOS_ID)
    return int(((batch["weights"] > 0) != want).sum())

  it = lm_train_iterator(weighted, seq_len=16, batch_size=4, seed=0, pack=pack)
  assert all(wrong(next(it)) == 0 for _ in range(10))
  evals = lm_eval_batches(weighted, seq_len=16, batch_size=4, pack=pack)
  assert all(wrong(b) == 0 for b in evals)
  total = sum(b["weights"].sum() for b in evals)
  assert total == evals.num_tokens == sum(float(w.weights[1:].sum()) for w in weighted)
  # The same tokens unweighted: every real position counts, which the check must catch.
  plain = lm_eval_batches(ids, seq_len=16, batch_size=4, pack=pack)
  assert sum(wrong(b) for b in plain) > 0
  assert all(((b["weights"] > 0) == (b["segment_ids"] > 0)).all() for b in plain)
  with pytest.raises(ValueError, match="one weight per token"):
    WeightedTokens([3, 4, 5], [1.0, 0.0])


# ------------------------------------------------------------------------------------------------
# Determinism.
# ------------------------------------------------------------------------------------------------

def texts(split, n=50):
  return [split[i]["text"] for i in range(n)]


@pytest.mark.parametrize("make,knobs", [(mqar_split, MQAR), (listops_split, LISTOPS)])
def test_same_seed_same_data_other_seed_other_data(make, knobs):
  for split in common.SPLITS:
    a, b = make(split, knobs), make(split, knobs)
    assert texts(a) == texts(b)
    assert [a[i] for i in (7, 3, 7)] == [b[7], b[3], b[7]]  # random access, any order
    other = make(split, replace(knobs, seed=1))
    assert sum(x == y for x, y in zip(texts(a), texts(other))) < 5
  assert texts(make("train", knobs)) != texts(make("validation", knobs))


def _fingerprint(knobs_repr: str) -> str:
  """A digest of the first examples of every split of both tasks (run here and in a subprocess)."""
  return f"""
import hashlib, random
from synth.data.diagnostics import common, listops, mqar
from synth.data.diagnostics.listops import ListOpsKnobs
from synth.data.diagnostics.mqar import MQARKnobs
k = {knobs_repr}
examples = [common.GeneratedSplit(t, 0, s, 20, lambda r, m=m, kk=kk: m.draw(r, kk))[i]
            for t, m, kk in (("mqar", mqar, k[0]), ("listops", listops, k[1]))
            for s in common.SPLITS for i in range(20)]
print(hashlib.sha256(repr(examples).encode()).hexdigest())
"""


def test_the_data_do_not_depend_on_the_process(capsys):
  """Another interpreter with another PYTHONHASHSEED draws the same examples."""
  code = _fingerprint(repr((MQAR, LISTOPS)))
  env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=REPO)
  there = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=REPO).stdout.strip()
  exec(code, {})
  here = capsys.readouterr().out.strip()
  assert len(here) == 64 and here == there


# ------------------------------------------------------------------------------------------------
# Correctness of what is generated.
# ------------------------------------------------------------------------------------------------

def test_listops_reference_evaluator():
  cases = {"7": 7, "[MAX 2 9 [MIN 4 7 ] 0 ]": 9, "[MIN 3 [MAX 1 0 ] ]": 1,
           "[MED 1 2 3 4 ]": 2,  # even count: LRA's int(np.median), the lower mean
           "[MED 9 0 8 ]": 8, "[MED 7 8 ]": 7, "[SM 9 9 ]": 8, "[SM 5 5 ]": 0,
           "[SM [MED 1 2 3 4 ] 9 [MAX 0 1 ] ]": 2}
  assert {t: listops.evaluate(t) for t in cases} == cases
  assert listops.depth("7") == 1 and listops.depth("[SM [MED 1 [MAX 1 2 ] ] 9 ]") == 4
  for bad in ("[MAX 1 2", "[MAX ]", "1 2", "[MAX 1 ( 2 ]", "]", ""):
    with pytest.raises(ValueError):
      listops.evaluate(bad)


def test_every_listops_label_is_the_reference_value():
  examples = [s[i] for s in map(listops_split, common.SPLITS) for i in range(len(s) // 4)]
  assert len(examples) == 1350
  assert [e for e in examples if listops_errors(e, LISTOPS)] == []
  assert len({e["label"] for e in examples}) == 10
  # A corrupted label must be caught.
  corrupted = [{**e, "label": (e["label"] + 1) % 10} for e in examples[:50]]
  assert all(any("label" in p for p in listops_errors(e, LISTOPS)) for e in corrupted)


def test_every_mqar_answer_is_retrievable_from_the_pairs():
  examples = [s[i] for s in map(mqar_split, common.SPLITS) for i in range(len(s) // 4)]
  assert [(e["text"], recall_errors(e, MQAR)) for e in examples if recall_errors(e, MQAR)] == []
  # Corruptions: a wrong answer, a weight off the answer, a key asked that is not in the pairs.
  e = examples[0]
  tokens, answer = e["text"].split(), e["weights"].index(1.0)
  other_value = next(v for v in tokens[1:2 * MQAR.num_pairs:2] if v != tokens[answer])
  wrong_value = dict(e, text=" ".join(tokens[:answer] + [other_value] + tokens[answer + 1:]))
  shifted = dict(e, weights=[0.0] + e["weights"][:-1])
  unknown_key = dict(e, text=" ".join(tokens[:answer - 1] + ["k15" if "k15" not in tokens else
                                                            "k14"] + tokens[answer:]))
  assert recall_errors(wrong_value, MQAR) and recall_errors(shifted, MQAR)
  assert recall_errors(unknown_key, MQAR)


# ------------------------------------------------------------------------------------------------
# Knobs.
# ------------------------------------------------------------------------------------------------

def test_listops_knobs_bound_length_and_depth():
  short = replace(LISTOPS, min_length=4, max_length=20, max_depth=3)
  examples = [listops_split("train", short)[i] for i in range(300)]
  assert [e for e in examples if listops_errors(e, short)] == []
  lengths = [len(e["text"].split()) for e in examples]
  assert min(lengths) >= 4 and max(lengths) <= 20
  # The bounds bind: looser knobs give longer and deeper expressions, which the check rejects.
  loose = [listops_split("train", LISTOPS)[i] for i in range(300)]
  assert max(len(e["text"].split()) for e in loose) > 20
  assert max(listops.depth(e["text"]) for e in loose) == LISTOPS.max_depth > short.max_depth
  assert any(listops_errors(e, short) for e in loose)


def test_mqar_knobs_shape_the_examples():
  other = replace(MQAR, vocab_size=64, num_pairs=10, num_queries=7, seq_len=40)
  examples = [mqar_split("validation", other)[i] for i in range(100)]
  assert [e for e in examples if recall_errors(e, other)] == []
  symbols = {t for e in examples for t in e["text"].split()}
  vocab = mqar.vocabulary(other)
  assert vocab.vocab_size == 3 + 64 + 1 and vocab.unk_id not in {vocab.id_of(s) for s in symbols}
  assert len({s for s in symbols if s.startswith("k")}) > 20  # keys come from all 32
  # Examples of one setting fail the checks of another.
  assert all(recall_errors(e, MQAR) for e in examples)


# ------------------------------------------------------------------------------------------------
# No leakage between splits.
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mqar", "listops"])
def test_no_example_is_in_two_splits(name):
  """Knobs with so few possible examples that independent draws collide all the time: the hash
  partition keeps the splits disjoint (and each example in the split its text hashes to)."""
  if name == "mqar":
    knobs = replace(MQAR, vocab_size=6, num_pairs=2, num_queries=1, seq_len=6)
    make, draw = mqar_split, mqar.draw
  else:
    knobs = replace(LISTOPS, min_length=1, max_length=4, max_depth=2, max_args=2)
    make, draw = listops_split, listops.draw
  splits = {s: {e["text"] for e in make(s, knobs)[:1000 if s == "train" else 200]}
            for s in common.SPLITS}
  assert all(common.split_of(t) == s for s, ts in splits.items() for t in ts)
  assert not splits["train"] & splits["validation"] and not splits["train"] & splits["test"]
  assert not splits["validation"] & splits["test"]
  assert min(map(len, splits.values())) > 10
  # Without the partition the same generator leaks: independent streams share many examples.
  unfiltered = {}
  for s in common.SPLITS:
    rng = random.Random(s)
    drawn = (draw(rng, knobs) for _ in range(3000))
    unfiltered[s] = {e["text"] for e in drawn if e is not None}
  assert len(unfiltered["train"] & unfiltered["validation"]) > 10


# ------------------------------------------------------------------------------------------------
# Through get_data: registration, tokenizer, answer-only weights, one-line errors.
# ------------------------------------------------------------------------------------------------

def tiny_mqar(**data):
  c = mqar_config("pairs=6,queries=3,length=24,vocab=32")
  c.data.update(batch_size=8, eval_batch_size=8, max_eval_examples=40, **data)
  return c


def tiny_listops():
  c = listops_config("min_length=8,max_length=48")
  c.data.listops.update(max_depth=4, max_args=5)
  c.data.update(batch_size=8, eval_batch_size=8, max_eval_examples=40)
  return c


def answer_errors(batch, tokenizer, knobs) -> int:
  """Weighted positions that are not 'the input is a query key and the target its value'."""
  bad = 0
  for inputs, targets, weights in zip(batch["inputs"], batch["targets"], batch["weights"]):
    tokens = tokenizer.decode(inputs).split()
    pairs = dict(zip(tokens[:2 * knobs.num_pairs:2], tokens[1:2 * knobs.num_pairs:2]))
    for i in np.flatnonzero(weights):
      target = tokenizer.decode([targets[i]])
      if i < 2 * knobs.num_pairs or pairs.get(tokens[i]) != target:
        bad += 1
    bad += abs(int((weights > 0).sum()) - knobs.num_queries * bool((inputs > 0).any()))
  return bad


def test_mqar_batches_weight_the_answers_only(tmp_path):
  c = tiny_mqar()
  data = get_data(c, str(tmp_path), process_index=0, process_count=1)
  knobs = mqar.knobs(c)
  assert data.tokenizer == mqar.vocabulary(knobs) and not (tmp_path / "vocab").exists()
  assert get_task("mqar").kind == "lm"
  for _ in range(5):
    batch = next(data.train)
    assert batch["inputs"].shape == (8, 24)
    assert answer_errors(batch, data.tokenizer, knobs) == 0
  evals = data.eval_batches("validation")
  assert all(answer_errors(b, data.tokenizer, knobs) == 0 for b in evals)
  assert evals.num_tokens == 40 * knobs.num_queries
  # The same examples as a plain LM (every token a target) fail the check.
  plain = lm_eval_batches([np.asarray(t) for t in data.tokens("validation")], seq_len=24,
                          batch_size=8, pack=False)
  assert all(answer_errors(b, data.tokenizer, knobs) > 0 for b in plain)


def test_listops_batches(tmp_path):
  c = tiny_listops()
  data = get_data(c, str(tmp_path), process_index=0, process_count=1)
  assert data.label_names == listops.LABEL_NAMES and data.tokenizer is listops.VOCABULARY
  batch = next(data.train)
  assert batch["inputs"].shape == (8, 48) and batch["labels"].shape == (8,)
  for inputs, label in zip(batch["inputs"], batch["labels"]):
    assert listops.evaluate(data.tokenizer.decode(inputs)) == label


BAD_KNOBS = [
    ("mqar", {"num_pairs": 20, "vocab_size": 32},
     "num_pairs=20 needs 20 distinct keys but vocab_size=32 has 16"),
    ("mqar", {"num_pairs": 8, "num_queries": 8, "seq_len": 30},
     "seq_len=30 cannot hold 8 pairs and 8 queries .* raise seq_len to at least 32"),
    ("mqar", {"num_queries": 9, "num_pairs": 8}, "num_queries=9 exceeds num_pairs=8"),
    ("mqar", {"num_pair": 8}, "data.mqar has unknown knob.s. num_pair; the knobs are"),
    ("mqar", {"vocab_size": 0}, "data.mqar.vocab_size must be a positive integer, got 0"),
    ("listops", {"min_length": 100, "max_length": 50}, "min_length=100 exceeds max_length=50"),
    ("listops", {"min_length": 500, "max_length": 1000, "max_depth": 3, "max_args": 4},
     "min_length=500 is unreachable: .* no expression is longer than 26 symbols"),
    ("listops", {"max_args": 1}, "max_args must be at least 2"),
    ("listops", {"operator_p": 1.0}, "operator_p=1.0 must be in"),
]


@pytest.mark.parametrize("task,knobs,message", BAD_KNOBS)
def test_impossible_knobs_are_one_line_errors(task, knobs, message):
  c = base_config()
  c.data.source = task
  c.data[task] = knobs
  with pytest.raises(ValueError, match=message) as e:
    get_task(task).check(c)
  assert "\n" not in str(e.value)


def test_configs_that_cannot_run_are_one_line_errors(tmp_path):
  cases = [(tiny_mqar(seq_len=16), "data.seq_len=16 is shorter than data.mqar.seq_len=24"),
           (tiny_listops(), "data.seq_len=32 is shorter than data.listops.max_length=48")]
  cases[1][0].data.seq_len = 32
  small = tiny_mqar()
  small.model.vocab_size = 20
  cases.append((small, "data.source 'mqar' has a fixed vocabulary of 36 ids but "
                       "model.vocab_size is 20; set model.vocab_size to at least 36"))
  wrong_model = tiny_mqar()
  wrong_model.model.kind = "encoder_classifier"
  cases.append((wrong_model, "data.source 'mqar' is a lm task: model.kind must be 'decoder'"))
  for config, message in cases:
    with pytest.raises(ValueError, match=message) as e:
      get_data(config, str(tmp_path), process_index=0, process_count=1)
    assert "\n" not in str(e.value)
  with pytest.raises(ValueError, match="cannot hold 8 pairs"):
    mqar_config("pairs=8,queries=8,length=30")  # the config file checks its arguments too


# ------------------------------------------------------------------------------------------------
# End to end: a few training steps of a tiny model on each task.
# ------------------------------------------------------------------------------------------------

def shrink(c):
  c.model.update(d_model=32, num_heads=2, d_ff=64, num_encoder_layers=1, num_decoder_layers=2)
  c.train.update(num_steps=6, log_every=2, eval_every=0, checkpoint_every=6)
  c.optimizer.update(warmup_steps=2)
  return c


def read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def trained_mqar(tmp_path_factory):
  """(config, workdir, final metrics) of a 6-step run of a tiny Random synthesizer on MQAR."""
  from synth.train import trainer
  c = shrink(tiny_mqar())
  c.model.variant = "random"  # a synthesizer: the task runs with any token mixer
  workdir = tmp_path_factory.mktemp("mqar")
  return c, workdir, trainer.train(c, str(workdir))


def test_train_mqar_end_to_end(trained_mqar):
  _, workdir, metrics = trained_mqar
  # The final evaluation scored exactly the answers of the 40 eval examples.
  assert metrics["tokens"] == 40 * 3 and np.isfinite(metrics["loss"])
  rows = read_jsonl(workdir / "eval_results.jsonl")
  assert rows[-1]["split"] == "validation" and rows[-1]["tokens"] == 120
  # Accuracy counts answers: a whole number of the 120 recalled.
  recalled = rows[-1]["accuracy"] * 120 / 100
  assert 0 <= recalled <= 120 and recalled == pytest.approx(round(recalled), abs=1e-6)


def test_decode_an_mqar_run_with_the_task_vocabulary(trained_mqar, tmp_path):
  """`synth decode` reads and writes text in the task's symbols: the run has no SentencePiece
  model to load (loading one was the failure before run_tokenizer)."""
  import io
  from synth.data.tasks import run_tokenizer
  from synth.eval.decode_text import decode_file
  config, workdir, _ = trained_mqar
  knobs = mqar.knobs(config)
  vocab = mqar.vocabulary(knobs)
  assert run_tokenizer(config, str(workdir)) == vocab and not (workdir / "vocab").exists()
  # Prompts: validation examples up to their first query key (the first key after the pairs).
  prompts = []
  for i in range(3):
    tokens = mqar_split("validation", knobs)[i]["text"].split()
    query = next(j for j in range(2 * knobs.num_pairs, len(tokens)) if tokens[j].startswith("k"))
    prompts.append(" ".join(tokens[:query + 1]))
  assert all(vocab.unk_id not in vocab.encode(p) for p in prompts)
  inputs = tmp_path / "prompts.txt"
  inputs.write_text("\n".join(prompts) + "\n")
  out = io.StringIO()
  decode_file(config, str(workdir), str(inputs), out)
  lines = out.getvalue().split("\n")
  assert len(lines) == 4 and lines[-1] == ""  # one output line per prompt
  symbols = {s for line in lines for s in line.split()}
  assert symbols and symbols <= set(vocab.symbols) | {"<unk>"}, symbols


def test_a_trained_vocabulary_that_is_missing_is_a_one_line_error(tmp_path):
  """Readers of a run (decode) load the SentencePiece model, never train one."""
  from synth.data.tasks import run_tokenizer
  sys.path.insert(0, REPO)
  from configs.lm_python_docs import get_config
  with pytest.raises(FileNotFoundError, match="no vocabulary at .*spm_.*model") as e:
    run_tokenizer(get_config(), str(tmp_path))
  assert "\n" not in str(e.value) and not (tmp_path / "vocab").exists()


def test_train_listops_end_to_end(tmp_path):
  from synth.train import trainer
  c = shrink(tiny_listops())
  c.model.variant = "dense"
  metrics = trainer.train(c, str(tmp_path))
  assert 0.0 <= metrics["accuracy"] <= 100.0 and np.isfinite(metrics["loss"])  # percent
  assert read_jsonl(tmp_path / "eval_results.jsonl")[-1]["accuracy"] == metrics["accuracy"]


# ------------------------------------------------------------------------------------------------
# The experiment file: every run resolves to a config that can run.
# ------------------------------------------------------------------------------------------------

def test_diagnostics_experiment_runs_resolve(tmp_path):
  from synth.models import ModelConfig
  from synth.sweep.grid import expand, resolve_config
  from synth.sweep.spec import load_experiment
  from synth.sweep.variants import PAPER_VARIANTS
  experiment = load_experiment(os.path.join(REPO, "experiments", "diagnostics.py"))
  runs = expand(experiment, str(tmp_path))
  by_task = {}
  for run in runs:
    config = resolve_config(run, REPO)
    ModelConfig.for_run(config)
    get_task(config.data.source).check(config)
    assert config.model.variant == run.variant and config.seed == run.seed
    by_task.setdefault(run.task.name, set()).add(run.variant)
  convs = {"lightweight_conv", "dynamic_conv"}
  assert by_task["listops"] == set(PAPER_VARIANTS) | convs | {"linformer"}
  assert by_task["mqar_easy"] == by_task["mqar_hard"] == set(PAPER_VARIANTS) | convs
  assert len(runs) == 3 * (2 * 11 + 12)
  assert {r.task.name: r.task.share_vocab for r in runs} == dict.fromkeys(by_task, False)
