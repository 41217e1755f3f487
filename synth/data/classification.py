"""Labelled token lists -> numpy classifier batches: shard, seeded shuffle, cut, pad, batch.

An example is {'inputs': token ids, 'label': int class (or float, regression)}. Each example is
one row: its tokens cut to seq_len and padded with 0 (the classifier pools over non-zero
tokens). A batch is

  inputs   int32   (batch_size, seq_len)  tokens, 0 = padding
  labels   int32 (float32 for regression)   (batch_size,)
  weights  float32 (batch_size,)  1 for a real example, 0 for a padding row (eval only)

Training is a grain iterator (checkpointable with get_state/set_state); evaluation a finite,
deterministic sequence of batches, every example once and the same number of batches on every
process.
"""
import functools
import math
from collections.abc import Sequence

import grain
import numpy as np

from synth.data.pipeline import check_sizes, read_options

CLASSIFICATION_KEYS = ("inputs", "labels", "weights")


def _label_dtype(regression: bool):
  return np.float32 if regression else np.int32


def _row(example: dict, seq_len: int, regression: bool) -> dict:
  ids = np.asarray(example["inputs"], np.int32)[:seq_len]
  inputs = np.zeros(seq_len, np.int32)
  inputs[:len(ids)] = ids
  return {"inputs": inputs, "labels": _label_dtype(regression)(example["label"]),
          "weights": np.float32(1.0)}


def classification_train_iterator(examples, *, seq_len: int, batch_size: int, seed: int,
                                  regression: bool = False, shard_index: int = 0,
                                  shard_count: int = 1,
                                  read_threads: int = 0) -> grain.DatasetIterator:
  """An endless, checkpointable iterator of this process's training batches.

  Args:
    examples: a sequence or grain.MapDataset of {'inputs', 'label'} examples.
    seq_len: tokens per row; longer inputs are cut.
    batch_size: rows per batch on this process.
    seed: shuffle seed; every epoch is reshuffled from it.
    regression: float labels instead of class ids.
    shard_index, shard_count: this process takes examples shard_index, shard_index +
      shard_count, ...: the shards are disjoint and cover the data.
    read_threads: threads that fetch (and tokenize) examples.
  """
  check_sizes(seq_len, batch_size, shard_index, shard_count)
  ds = examples if isinstance(examples, grain.MapDataset) else grain.MapDataset.source(examples)
  ds = ds[shard_index::shard_count]
  if len(ds) == 0:
    raise ValueError(f"shard {shard_index} of {shard_count} has no examples "
                     f"(the data has fewer than {shard_count} examples)")
  ds = ds.shuffle(seed=seed).repeat(None).map(
      functools.partial(_row, seq_len=seq_len, regression=regression))
  return iter(ds.to_iter_dataset(read_options(read_threads)).batch(batch_size,
                                                                   drop_remainder=True))


class ClassificationEvalBatches(Sequence):
  """A finite, deterministic sequence of eval batches (re-iterable; built per batch)."""

  def __init__(self, examples: Sequence[dict], num_batches: int, *, seq_len: int,
               batch_size: int, regression: bool):
    self._examples, self._num_batches = examples, num_batches
    self.seq_len, self.batch_size, self._regression = seq_len, batch_size, regression

  def __len__(self) -> int:
    return self._num_batches

  @property
  def num_examples(self) -> int:
    """Examples of this shard (each counted once across the batches): the sum of weights."""
    return len(self._examples)

  def __getitem__(self, b: int) -> dict:
    if not -self._num_batches <= b < self._num_batches:
      raise IndexError(f"eval batch {b} out of range ({self._num_batches} batches)")
    b %= self._num_batches
    out = {"inputs": np.zeros((self.batch_size, self.seq_len), np.int32),
           "labels": np.zeros(self.batch_size, _label_dtype(self._regression)),
           "weights": np.zeros(self.batch_size, np.float32)}
    for r, ex in enumerate(self._examples[b * self.batch_size:(b + 1) * self.batch_size]):
      row = _row(ex, self.seq_len, self._regression)
      for k in CLASSIFICATION_KEYS:
        out[k][r] = row[k]
    return out


def classification_eval_batches(examples: Sequence[dict], *, seq_len: int, batch_size: int,
                                regression: bool = False, shard_index: int = 0,
                                shard_count: int = 1) -> ClassificationEvalBatches:
  """This process's eval batches: no shuffle, no repeat, every example exactly once.

  Examples are sharded like training. The last batch is filled with padding rows (weight 0),
  and every process gets the same number of batches.
  """
  check_sizes(seq_len, batch_size, shard_index, shard_count)
  most = math.ceil(len(examples) / shard_count)
  mine = [examples[i] for i in range(shard_index, len(examples), shard_count)]
  return ClassificationEvalBatches(mine, math.ceil(most / batch_size), seq_len=seq_len,
                                   batch_size=batch_size, regression=regression)
