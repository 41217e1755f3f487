"""The data a config asks for: its task's examples, the tokenizer, and the batch pipelines.

`get_data(config, workdir)` returns the same interface for every task kind (see Data): the
tokenizer, this process's checkpointable training iterator, and finite eval batches of any
split. It checks the task against config.model.kind and opens the train and validation splits
before returning, so a wrong model kind, a missing dataset or a bad local file is an error
before any training starts.

The vocabulary is trained on the task's train split on first use (at most
data.vocab_train_examples examples, spread evenly over the split) and cached at
`config.data.vocab_path`, or `<workdir>/vocab/spm_<size>.model` where size is model.vocab_size
less the data.extra_ids sentinel ids kept free at the top for span corruption. With several
processes only process 0 trains; the others wait for the file to appear, which needs a workdir
all hosts can read (a shared filesystem or gs://). Training is deterministic, so a lost
vocabulary is rebuilt identically. A task with its own fixed vocabulary (DataTask.tokenizer,
e.g. the symbolic alphabets of the synthetic diagnostics) uses it as is: nothing is trained or
cached.
"""
import time
from collections.abc import Iterator, Sequence

import grain
import ml_collections
import numpy as np
from etils import epath

from synth.config import spm_vocab_size
from synth import kinds
from synth.data.pipeline import WeightedTokens
from synth.data.python_docs import python_docs
from synth.data.registry import (SOURCES, TASKS, DataTask, get_task,
                                 register_source, register_task)
from synth.data.tokenizer import Tokenizer, load_or_train_tokenizer

__all__ = ["Data", "SOURCES", "TASKS", "DataTask", "get_data", "get_lm_data", "get_task",
           "register_source", "register_task", "run_tokenizer", "vocab_path"]

# How long non-zero processes wait for process 0 to write the vocabulary.
VOCAB_WAIT_S = 1800


@register_source("python_docs")
def _python_docs(split: str, data_dir: str) -> Sequence[str]:
  del data_dir  # read from this interpreter's standard library
  return python_docs(split)


def vocab_path(config: ml_collections.ConfigDict, workdir: str) -> str:
  """Where the run's SentencePiece model lives (given, or cached in the workdir)."""
  if config.data.vocab_path:
    return str(config.data.vocab_path)
  return str(epath.Path(workdir) / "vocab" / f"spm_{spm_vocab_size(config)}.model")


def label_text(kind: str, label_names: Sequence[str], label) -> str:
  """The target string of a label when an encoder-decoder learns a task text-to-text.

  Classes are their names ('<unk>' for the -1 of unlabelled test splits); regression scores
  are written as T5 writes STS-B's: rounded to the nearest 0.2, one decimal.
  """
  if kind == "regression":
    return f"{round(float(label) * 5) / 5:.1f}"
  label = int(label)
  return label_names[label] if 0 <= label < len(label_names) else "<unk>"


def _wait_for_file(path: str, timeout_s: float) -> None:
  deadline = time.monotonic() + timeout_s
  while not epath.Path(path).exists():
    if time.monotonic() > deadline:
      raise TimeoutError(f"waited {timeout_s:.0f} s for process 0 to write the vocabulary {path}; "
                         "is the workdir shared by all hosts?")
    time.sleep(1.0)


def _per_process(global_size: int, process_count: int, what: str) -> int:
  if global_size % process_count:
    raise ValueError(f"{what}={global_size} is not divisible by the {process_count} processes")
  return global_size // process_count


def _vocab_texts(examples: Sequence[dict], limit: int) -> Iterator[str]:
  """Every string field of at most `limit` examples spread evenly over the split (a split's
  order often follows its sub-corpora, so its first examples are not a fair sample)."""
  n = len(examples)
  k = min(n, limit) if limit > 0 else n
  for j in range(k):
    for value in examples[j * n // k].values():
      if isinstance(value, str):
        yield value


def _ids(ids) -> np.ndarray:
  return np.asarray(ids, np.int32)


class Featurizer:
  """Raw examples -> token ids, in the forms the model kinds read (synth.kinds picks one):

    lm:        token ids (WeightedTokens if the example weights its tokens)
    pairs:     a list of {'inputs', 'targets'} token-id pairs: a seq2seq task's, or a
               classification task's learnt text-to-text (the label as its target string)
    labelled:  {'inputs', 'label'}
  """

  def __init__(self, task: DataTask, kind: str, model_kind, tokenizer: Tokenizer,
               config: ml_collections.ConfigDict, label_names: tuple[str, ...]):
    self.task, self.kind, self.tokenizer, self.config = task, kind, tokenizer, config
    self.model_kind, self.label_names = model_kind, label_names

  def __call__(self, ex: dict):
    """One example, tokenized in this thread (the training pipeline's map)."""
    return self.model_kind.featurize(self, ex)

  def batch(self, examples: Sequence[dict]) -> list:
    """Many examples, tokenized together (SentencePiece encodes a batch in parallel); pairs
    come back flattened to one list."""
    return self.model_kind.featurize_batch(self, examples)

  def _encode(self, texts) -> list[np.ndarray]:
    return [_ids(t) for t in self.tokenizer.encode_batch(list(texts))]

  def _weighted(self, ex: dict, ids: np.ndarray):
    """An LM example's ids, with its per-token weights if it has them."""
    if "weights" not in ex:
      return ids
    if len(ex["weights"]) != len(ids):
      raise ValueError(f"data.source '{self.task.name}': an example has {len(ex['weights'])} "
                       f"weights for its {len(ids)} tokens; per-token weights need the task's "
                       "own tokenizer (DataTask.tokenizer), one token per symbol")
    return WeightedTokens(ids, ex["weights"])

  def lm(self, ex: dict):
    return self._weighted(ex, _ids(self.tokenizer.encode(ex["text"])))

  def lm_batch(self, examples: Sequence[dict]) -> list:
    return [self._weighted(ex, ids)
            for ex, ids in zip(examples, self._encode(ex["text"] for ex in examples))]

  def _texts(self, ex: dict) -> tuple[str, str]:
    """(input, target) text of a seq2seq example, or of a labelled one learnt text-to-text."""
    if self.kind == "seq2seq":
      return ex["inputs"], ex["targets"]
    return ex["text"], label_text(self.kind, self.label_names, ex["label"])

  def _inputs(self, ids) -> np.ndarray:
    """An encoder input; a task that keeps the end of over-long inputs (truncate_inputs_left)
    cuts them here to the tokens that fit before eos, where the pipeline's own cut
    (synth.data.seq2seq.features) would keep their start."""
    ids = _ids(ids)
    if not self.task.truncate_inputs_left:
      return ids
    return ids[-(self.model_kind.input_length(self.config) - 1):]

  def pairs(self, ex: dict) -> list[dict]:
    if self.task.pairs_from_text is not None:
      return self.task.pairs_from_text(_ids(self.tokenizer.encode(ex["text"])), self.config)
    inputs, targets = self._texts(ex)
    return [{"inputs": self._inputs(self.tokenizer.encode(inputs)),
             "targets": _ids(self.tokenizer.encode(targets))}]

  def pairs_batch(self, examples: Sequence[dict]) -> list[dict]:
    if self.task.pairs_from_text is not None:
      return [pair for ids in self._encode(ex["text"] for ex in examples)
              for pair in self.task.pairs_from_text(ids, self.config)]
    texts = [self._texts(ex) for ex in examples]
    return [{"inputs": self._inputs(i), "targets": t}
            for i, t in zip(self._encode(t[0] for t in texts), self._encode(t[1] for t in texts))]

  def labelled(self, ex: dict) -> dict:
    return {"inputs": _ids(self.tokenizer.encode(ex["text"])), "label": ex["label"]}

  def labelled_batch(self, examples: Sequence[dict]) -> list[dict]:
    return [{"inputs": ids, "label": ex["label"]}
            for ids, ex in zip(self._encode(ex["text"] for ex in examples), examples)]


class Data:
  """What the trainer and the evaluator need for one task, the same for every kind.

  Attributes:
    task: the registry entry; kind: its kind under this config ('lm', 'seq2seq',
      'classification' or 'regression'); model_kind: the synth.kinds object of
      config.model.kind, which says how examples are featurised and batched.
    tokenizer: the SentencePiece tokenizer, or the task's own fixed vocabulary
      (DataTask.tokenizer); either way pad 0, eos 1, unk 2.
    train: this process's endless, checkpointable grain iterator of training batches: the LM
      keys of synth.data.pipeline, the encoder-decoder keys of synth.data.seq2seq (also for
      classification learnt text-to-text) or the classifier keys of synth.data.classification.
    batch_size, eval_batch_size: rows per batch on this process.
    label_names: a classification task's label names (the target strings text-to-text).
  """

  def __init__(self, *, task: DataTask, kind: str, config: ml_collections.ConfigDict,
               tokenizer: Tokenizer, sources: dict, label_names: tuple[str, ...],
               shard: tuple[int, int], batch_size: int, eval_batch_size: int):
    self.task, self.kind, self.model_kind = task, kind, kinds.model_kind(config.model.kind)
    self.tokenizer, self.label_names = tokenizer, label_names
    self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
    self._config, self._sources, self._shard = config, sources, shard
    self._featurize = Featurizer(task, kind, self.model_kind, tokenizer, config, label_names)
    self._examples, self._tokens = {}, {}
    self.train = self._train_iterator()

  def _source(self, split: str):
    if split not in self._sources:
      self._sources[split] = self.task.source(split, self._config)
    return self._sources[split]

  def _train_iterator(self) -> grain.DatasetIterator:
    d, (index, count) = self._config.data, self._shard
    examples = grain.MapDataset.source(self._source("train")).map(self._featurize)
    common = dict(batch_size=self.batch_size, seed=self._config.seed, shard_index=index,
                  shard_count=count, read_threads=d.read_threads)
    return self.model_kind.train_iterator(examples, self._config, self.kind, **common)

  def examples(self, split: str) -> list[dict]:
    """The raw examples of a split (strings and labels: what decoding is scored against),
    capped at data.max_eval_examples, in order; read once and kept in memory."""
    if split not in self._examples:
      source = self._source(split)
      cap = self._config.data.max_eval_examples
      n = min(len(source), cap) if cap else len(source)
      self._examples[split] = [source[i] for i in range(n)]
    return self._examples[split]

  def tokens(self, split: str) -> list:
    """The tokenized examples of a split: token arrays (lm), {'inputs', 'targets'} pairs
    (encoder-decoder) or {'inputs', 'label'} (classifier); computed once."""
    if split not in self._tokens:
      self._tokens[split] = self._featurize.batch(self.examples(split))
    return self._tokens[split]

  def eval_batches(self, split: str = "validation") -> Sequence[dict]:
    """This process's batches of a split: every example once (capped by data.max_eval_examples),
    the same number of batches on every process, padding rows with weight 0."""
    index, count = self._shard
    common = dict(batch_size=self.eval_batch_size, shard_index=index, shard_count=count)
    return self.model_kind.eval_batches(self.tokens(split), self._config, self.kind, **common)


def run_tokenizer(config: ml_collections.ConfigDict, workdir: str, *, train_examples=None,
                  process_index: int = 0):
  """The run's tokenizer: the one place that says which it is, for get_data and for every reader
  of a trained run (`synth decode`), so that they cannot disagree.

  The task's own fixed vocabulary (DataTask.tokenizer) if it has one, else the SentencePiece model
  at vocab_path(config, workdir). With `train_examples` (get_data passes the train split) a
  missing model is trained from them by process 0 and waited for by the others; without, it
  must exist, as it does for any run that has trained.
  """
  task = get_task(config.data.source)
  if task.tokenizer is not None:
    return _task_tokenizer(task, config)
  path = vocab_path(config, workdir)
  if train_examples is None:
    if not epath.Path(path).exists():
      raise FileNotFoundError(f"no vocabulary at {path}: has a run been trained in {workdir}?")
    tokenizer = Tokenizer.load(path)
  elif process_index == 0:
    texts = _vocab_texts(train_examples, int(config.data.vocab_train_examples))
    tokenizer = load_or_train_tokenizer(path, texts, spm_vocab_size(config))
  else:
    _wait_for_file(path, VOCAB_WAIT_S)
    tokenizer = Tokenizer.load(path)
  if tokenizer.vocab_size > spm_vocab_size(config):
    extra = f" less data.extra_ids={config.data.extra_ids}" if config.data.extra_ids else ""
    raise ValueError(f"tokenizer {path} has {tokenizer.vocab_size} ids but model.vocab_size is "
                     f"{config.model.vocab_size}{extra}")
  return tokenizer


def _task_tokenizer(task: DataTask, config):
  """The task's own fixed vocabulary, checked against model.vocab_size."""
  tokenizer = task.tokenizer(config)
  if tokenizer.vocab_size > spm_vocab_size(config):
    extra = int(config.data.extra_ids)
    less = f" less data.extra_ids={extra}" if extra else ""
    raise ValueError(f"data.source '{task.name}' has a fixed vocabulary of {tokenizer.vocab_size} "
                     f"ids but model.vocab_size is {config.model.vocab_size}{less}; set "
                     f"model.vocab_size to at least {tokenizer.vocab_size + extra}")
  return tokenizer


def get_data(config: ml_collections.ConfigDict, workdir: str, *,
             process_index: int | None = None, process_count: int | None = None) -> Data:
  """Checks the task against the model, opens its splits, loads (or trains) the tokenizer and
  builds this process's training iterator.

  Args:
    config: the experiment config (uses data.*, model.kind/vocab_size/num_classes and seed).
    workdir: the run directory; the vocabulary is cached under it unless data.vocab_path is set
      (or the task has its own).
    process_index, process_count: this process and the number of processes; default from jax.
  """
  if process_index is None or process_count is None:
    import jax  # lazily: the data layer itself is numpy-only
    process_index, process_count = jax.process_index(), jax.process_count()
  d = config.data
  task = get_task(d.source)
  kind = task.kind_for(config)
  label_names = tuple(task.label_names) or tuple(d.label_names)
  kinds.model_kind(config.model.kind).check_task(task.name, kind, config, label_names)
  if task.check is not None:
    task.check(config)
  batch_size = _per_process(d.batch_size, process_count, "data.batch_size")
  eval_batch_size = _per_process(d.eval_batch_size, process_count, "data.eval_batch_size")
  # Open both splits the trainer reads now: a missing dataset or file fails before training.
  sources = {split: task.source(split, config) for split in ("train", "validation")}
  tokenizer = run_tokenizer(config, workdir, train_examples=sources["train"],
                            process_index=process_index)
  return Data(task=task, kind=kind, config=config, tokenizer=tokenizer, sources=sources,
              label_names=label_names, shard=(process_index, process_count),
              batch_size=batch_size, eval_batch_size=eval_batch_size)


def get_lm_data(config: ml_collections.ConfigDict, workdir: str, **kwargs) -> Data:
  """get_data for a language-model task (an error for any other kind)."""
  data = get_data(config, workdir, **kwargs)
  if data.kind != "lm":
    raise ValueError(f"data.source '{config.data.source}' is a {data.kind} task, not an LM task")
  return data
