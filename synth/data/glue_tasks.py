"""GLUE and SuperGLUE tasks in T5's text-to-text form (Raffel et al. 2020, appendix D).

Every record becomes one input string, the benchmark's name followed by its fields:

  glue/mnli    "mnli hypothesis: ... premise: ..."  label 0..2 = entailment/neutral/contradiction

An encoder-decoder learns the label's name as its target string (T5), an encoder classifier the
label id (STS-B: the score, as regression; T5 writes it rounded to 0.2 as a target). The fields
and their order are T5's (sorted feature names unless T5 fixed an order), and so are the label
names, so outputs compare with T5's. Two tasks are not plain classification:
  super_glue/wsc.fixed  T5's 'wsc' form: the text with span 1 marked *...* and span 2 #...#,
                        label False/True.
  super_glue/record     seq2seq: "record query: ... entities: a, b passage: ..." -> an answer.
                        T5 trains on every answer (one example each); this task trains on the
                        first, as a record here is one example. `answers` keeps them all for
                        scoring.
MNLI evaluates on validation_matched; the splits 'validation_matched' and
'validation_mismatched' are there for the two scores.
"""
import re

import numpy as np

from synth.data.tfds_tasks import text, tfds_task

_GLUE = {
    # name: (label names, fields in order)
    "cola": (("unacceptable", "acceptable"), ("sentence",)),
    "sst2": (("negative", "positive"), ("sentence",)),
    "mrpc": (("not_equivalent", "equivalent"), ("sentence1", "sentence2")),
    "stsb": ((), ("sentence1", "sentence2")),
    "qqp": (("not_duplicate", "duplicate"), ("question1", "question2")),
    "mnli": (("entailment", "neutral", "contradiction"), ("hypothesis", "premise")),
    "qnli": (("entailment", "not_entailment"), ("question", "sentence")),
    "rte": (("entailment", "not_entailment"), ("sentence1", "sentence2")),
    "wnli": (("not_entailment", "entailment"), ("sentence1", "sentence2")),
}
_SUPER_GLUE = {
    "boolq": (("False", "True"), ("passage", "question")),
    "cb": (("entailment", "contradiction", "neutral"), ("hypothesis", "premise")),
    "copa": (("choice1", "choice2"), ("choice1", "choice2", "premise", "question")),
    "multirc": (("False", "True"), ("question", "answer", "paragraph")),
    "rte": (("entailment", "not_entailment"), ("hypothesis", "premise")),
    "wic": (("False", "True"), ("sentence1", "sentence2", "word")),
}


def t5_inputs(benchmark: str, record: dict, fields) -> str:
  """T5's glue preprocessor: 'benchmark field1: value1 field2: value2 ...'."""
  return " ".join([benchmark, *(f"{f}: {text(record[f])}" for f in fields)])


def _label(record: dict):
  return np.asarray(record["label"]).item()


def _classification(benchmark: str, fields):
  def fmt(record: dict) -> dict:
    return {"text": t5_inputs(benchmark, record, fields), "label": int(_label(record))}
  return fmt


def _stsb(record: dict) -> dict:
  return {"text": t5_inputs("stsb", record, ("sentence1", "sentence2")),
          "label": float(_label(record))}


def mark_span(sentence: str, span: str, word_index: int, mark: str) -> str:
  """Surrounds `span`, starting at word `word_index`, with `mark` (T5's _mark_span); the text
  is unchanged if the span is not there."""
  pattern = rf"^((?:\S+\s){{{int(word_index)}}})({re.escape(span)})"
  return re.sub(pattern, lambda m: f"{m.group(1)}{mark} {m.group(2)} {mark}", sentence, count=1)


def _wsc(record: dict) -> dict:
  i1, i2 = int(np.asarray(record["span1_index"])), int(np.asarray(record["span2_index"]))
  marked = mark_span(text(record["text"]), text(record["span1_text"]), i1, "*")
  # Marking span 1 added two words ('*' twice) before span 2 if span 1 came first.
  marked = mark_span(marked, text(record["span2_text"]), i2 + 2 * (i1 < i2), "#")
  return {"text": f"wsc text: {marked}", "label": int(_label(record))}


def _record(record: dict) -> dict:
  passage = re.sub(r"(\.|\?|\!|\"|')\n@highlight\n", r"\1 ", text(record["passage"]))
  passage = re.sub(r"\n@highlight\n", ". ", passage)
  entities = ", ".join(text(e) for e in np.asarray(record["entities"]).reshape(-1))
  answers = [text(a) for a in np.asarray(record["answers"]).reshape(-1)]
  return {"inputs": f"record query: {text(record['query'])} entities: {entities} "
                    f"passage: {passage}",
          "targets": answers[0] if answers else "<unk>", "answers": answers}


for _name, (_labels, _fields) in _GLUE.items():
  _splits = {"validation": "validation_matched", "test": "test_matched"} if _name == "mnli" else {}
  if _name == "stsb":
    tfds_task("glue/stsb", "glue/stsb", "regression", _stsb,
              description="GLUE STS-B sentence similarity (0-5, regression)")
  else:
    tfds_task(f"glue/{_name}", f"glue/{_name}", "classification", _classification(_name, _fields),
              splits=_splits, label_names=_labels, description=f"GLUE {_name.upper()}")

for _name, (_labels, _fields) in _SUPER_GLUE.items():
  tfds_task(f"super_glue/{_name}", f"super_glue/{_name}", "classification",
            _classification(_name, _fields), label_names=_labels,
            description=f"SuperGLUE {_name}")
tfds_task("super_glue/wsc.fixed", "super_glue/wsc.fixed", "classification", _wsc,
          label_names=("False", "True"), description="SuperGLUE WSC (T5's marked-span form)")
tfds_task("super_glue/record", "super_glue/record", "seq2seq", _record,
          description="SuperGLUE ReCoRD (query + entities + passage -> answer)")
