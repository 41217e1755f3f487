"""Data sources by name, and the LM data (tokenizer + pipelines) a config asks for.

A source is a function (split, data_dir) -> texts registered under the name `config.data.source`
selects. Adding a corpus (a TFDS dataset, local text/JSONL files) is one `@register_source`
function; tokenization, vocabulary caching, sharding and batching are shared by all of them.

The vocabulary is trained on the source's train split on first use and cached at
`config.data.vocab_path`, or `<workdir>/vocab/spm_<model.vocab_size>.model`. With several
processes only process 0 trains; the others wait for the file to appear, which needs a workdir
all hosts can read (a shared filesystem or gs://). Training is deterministic, so a lost
vocabulary is rebuilt identically.
"""
import time
from collections.abc import Callable, Sequence

import grain
import ml_collections
from etils import epath

from synth.data.pipeline import EvalBatches, lm_eval_batches, lm_train_iterator
from synth.data.python_docs import python_docs
from synth.data.tokenizer import Tokenizer, load_or_train_tokenizer

# (split, data_dir) -> the split's texts in a fixed order.
TextSource = Callable[[str, str], Sequence[str]]
SOURCES: dict[str, TextSource] = {}
# How long non-zero processes wait for process 0 to write the vocabulary.
VOCAB_WAIT_S = 1800


def register_source(name: str):
  """Decorator adding a text source to SOURCES under `name`."""
  def register(fn: TextSource) -> TextSource:
    if name in SOURCES:
      raise ValueError(f"data source '{name}' is already registered")
    SOURCES[name] = fn
    return fn
  return register


@register_source("python_docs")
def _python_docs(split: str, data_dir: str) -> Sequence[str]:
  del data_dir  # read from this interpreter's standard library
  return python_docs(split)


def get_source(name: str) -> TextSource:
  """The text source registered as `name`, or a one-line error listing the known ones."""
  if name not in SOURCES:
    raise ValueError(f"unknown data source '{name}'; known sources: {', '.join(sorted(SOURCES))}")
  return SOURCES[name]


def vocab_path(config: ml_collections.ConfigDict, workdir: str) -> str:
  """Where the run's SentencePiece model lives (given, or cached in the workdir)."""
  if config.data.vocab_path:
    return str(config.data.vocab_path)
  return str(epath.Path(workdir) / "vocab" / f"spm_{config.model.vocab_size}.model")


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


class LMData:
  """What the trainer needs for an LM task.

  Attributes:
    tokenizer: the SentencePiece tokenizer (pad 0, eos 1, unk 2).
    train: this process's endless, checkpointable iterator of training batches
      (see synth.data.pipeline for the batch keys).
    batch_size, eval_batch_size: rows per batch on this process.
  """

  def __init__(self, *, tokenizer: Tokenizer, train: grain.DatasetIterator, batch_size: int,
               eval_batch_size: int, config: ml_collections.ConfigDict, source: TextSource,
               shard: tuple[int, int], train_tokens: list[list[int]]):
    self.tokenizer, self.train = tokenizer, train
    self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
    self._config, self._source, self._shard = config, source, shard
    self._tokens = {"train": train_tokens}

  def tokens(self, split: str) -> list[list[int]]:
    """Token ids of every example of a split (tokenized once, kept in memory)."""
    if split not in self._tokens:
      texts = self._source(split, self._config.data.data_dir)
      self._tokens[split] = self.tokenizer.encode_batch(texts)
    return self._tokens[split]

  def eval_batches(self, split: str = "validation") -> EvalBatches:
    """This process's batches of a split: every example once (capped by data.max_eval_examples),
    the same number of batches on every process, padding rows with weight 0."""
    d = self._config.data
    examples = self.tokens(split)
    if d.max_eval_examples:
      examples = examples[:d.max_eval_examples]
    return lm_eval_batches(examples, seq_len=d.seq_len, batch_size=self.eval_batch_size,
                           pack=d.pack, shard_index=self._shard[0], shard_count=self._shard[1])


def get_lm_data(config: ml_collections.ConfigDict, workdir: str, *,
                process_index: int | None = None, process_count: int | None = None) -> LMData:
  """Loads the source, the tokenizer (training it on first use) and the train pipeline.

  Args:
    config: the experiment config (uses data.*, model.vocab_size and seed).
    workdir: the run directory; the vocabulary is cached under it unless data.vocab_path is set.
    process_index, process_count: this process and the number of processes; default from jax.
  """
  if process_index is None or process_count is None:
    import jax  # lazily: the data layer itself is numpy-only
    process_index, process_count = jax.process_index(), jax.process_count()
  d = config.data
  source = get_source(d.source)
  texts = source("train", d.data_dir)
  path = vocab_path(config, workdir)
  if process_index == 0:
    tokenizer = load_or_train_tokenizer(path, texts, config.model.vocab_size)
  else:
    _wait_for_file(path, VOCAB_WAIT_S)
    tokenizer = Tokenizer.load(path)
  if tokenizer.vocab_size > config.model.vocab_size:
    raise ValueError(f"tokenizer {path} has {tokenizer.vocab_size} ids but model.vocab_size is "
                     f"{config.model.vocab_size}")
  batch_size = _per_process(d.batch_size, process_count, "data.batch_size")
  eval_batch_size = _per_process(d.eval_batch_size, process_count, "data.eval_batch_size")
  train_tokens = tokenizer.encode_batch(texts)
  train = lm_train_iterator(train_tokens, seq_len=d.seq_len, batch_size=batch_size,
                            seed=config.seed, pack=d.pack, shard_index=process_index,
                            shard_count=process_count)
  return LMData(tokenizer=tokenizer, train=train, batch_size=batch_size,
                eval_batch_size=eval_batch_size, config=config, source=source,
                shard=(process_index, process_count), train_tokens=train_tokens)
