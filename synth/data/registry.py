"""Tasks by name: what examples a task has and of which kind (synth.kinds says which model
kinds train on each).

A task turns a split name into random-access examples (anything with len() and [i], such as a
list, a tfds data source or a grain.MapDataset), each a dict of strings and labels:

  kind 'lm'              {'text': str}, optionally with 'weights': one float per token of the
                         text, how much predicting it counts (only with the task's own
                         `tokenizer`, whose tokens the task knows; see pipeline.WeightedTokens)
  kind 'seq2seq'         {'inputs': str, 'targets': str}, or {'text': str} plus `pairs_from_text`
                         (T5 span corruption builds the pairs from the text's tokens)
  kind 'classification'  {'text': str, 'label': int}, with the task's `label_names`
  kind 'regression'      {'text': str, 'label': float}

Tokenization, the vocabulary, sharding, shuffling, packing and batching are shared by every task
(synth.data.tasks), so adding a corpus is one `register_task` call in its own module, imported by
synth/data/__init__.py. Examples must come in a fixed order: the shuffle, the per-process shards
and a resumed run's data position are all defined by example index.

`register_source` keeps the older, simpler form: a function (split, data_dir) -> texts, which
becomes an 'lm' task.
"""
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import ml_collections

# What a task's examples are; synth.kinds says which model kinds train on each.
TASK_KINDS = ("lm", "seq2seq", "classification", "regression")

Config = ml_collections.ConfigDict
# (split, config) -> the split's examples in a fixed order.
ExampleSource = Callable[[str, Config], Sequence[dict[str, Any]]]
# (split, data_dir) -> the split's texts in a fixed order (the register_source form).
TextSource = Callable[[str, str], Sequence[str]]


@dataclasses.dataclass(frozen=True)
class DataTask:
  """A named source of examples and what they are.

  Attributes:
    name: the value of config.data.source that selects the task.
    kind: one of TASK_KINDS, or a function of the config returning one (local files take their
      kind from the model that trains on them).
    source: (split, config) -> examples; must raise a one-line error if the data is missing.
    label_names: classification: the name of each label id; it is also the target string when
      an encoder-decoder trains on the task text-to-text.
    pairs_from_text: seq2seq tasks whose examples are {'text'}: (token ids, config) -> a list of
      {'inputs', 'targets'} token-id arrays, deterministic given the ids and config.seed.
    check: config -> None, raising ValueError for settings the task cannot run with; called
      before any data is read.
    truncate_inputs_left: seq2seq: an input longer than its row (data.max_input_len) keeps its
      last tokens instead of its first (dialogue: the latest turns are what a response answers).
    tokenizer: config -> the fixed vocabulary the task's examples are written in (such as a
      synth.data.symbols.SymbolVocabulary), used as is; None = a SentencePiece model trained on
      the train split. Synthetic tasks bring their own: their alphabets are fixed, and a token
      must stay one symbol for per-token weights to mean anything.
    description: one line for listings and errors.
  """
  name: str
  kind: str | Callable[[Config], str]
  source: ExampleSource
  label_names: tuple[str, ...] = ()
  pairs_from_text: Callable[[Any, Config], list[dict]] | None = None
  check: Callable[[Config], None] | None = None
  truncate_inputs_left: bool = False
  tokenizer: Callable[[Config], Any] | None = None
  description: str = ""

  def kind_for(self, config: Config) -> str:
    """This task's kind under `config`, checked against TASK_KINDS."""
    kind = self.kind(config) if callable(self.kind) else self.kind
    if kind not in TASK_KINDS:
      raise ValueError(f"task '{self.name}' has kind '{kind}', not one of "
                       f"{', '.join(TASK_KINDS)}")
    return kind


TASKS: dict[str, DataTask] = {}
SOURCES: dict[str, TextSource] = {}


def _check_new(name: str) -> None:
  if name in TASKS or name in SOURCES:
    raise ValueError(f"data source '{name}' is already registered")


def register_task(task: DataTask) -> DataTask:
  """Adds `task` to TASKS under task.name (unique among tasks and sources)."""
  _check_new(task.name)
  if not callable(task.kind) and task.kind not in TASK_KINDS:
    raise ValueError(f"task '{task.name}' has kind '{task.kind}', not one of "
                     f"{', '.join(TASK_KINDS)}")
  TASKS[task.name] = task
  return task


def register_source(name: str):
  """Decorator adding a text source (split, data_dir) -> texts: an 'lm' task named `name`."""
  def register(fn: TextSource) -> TextSource:
    _check_new(name)
    SOURCES[name] = fn
    return fn
  return register


def _text_task(name: str, fn: TextSource) -> DataTask:
  def source(split: str, config: Config):
    return _TextExamples(fn(split, config.data.data_dir))
  return DataTask(name=name, kind="lm", source=source, description="texts")


class _TextExamples(Sequence):
  """A sequence of texts seen as {'text': ...} examples, without copying it."""

  def __init__(self, texts: Sequence[str]):
    self._texts = texts

  def __len__(self) -> int:
    return len(self._texts)

  def __getitem__(self, i):
    return {"text": self._texts[i]}


def get_task(name: str) -> DataTask:
  """The task registered as `name`, or a one-line error listing the known ones."""
  if name in TASKS:
    return TASKS[name]
  if name in SOURCES:
    return _text_task(name, SOURCES[name])
  raise ValueError(f"unknown data source '{name}'; known sources: "
                   f"{', '.join(sorted([*TASKS, *SOURCES]))}")
