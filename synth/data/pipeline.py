"""Token lists -> numpy LM batches: per-process shard, seeded shuffle, packing, batching.

Every batch is a dict of numpy arrays of shape (batch_size, seq_len):
  inputs       int32   tokens the model reads (0 = padding)
  targets      int32   the next token of each input position (0 = padding)
  weights      float32 how much the position's target counts: 1, or the example's own target
                       weight (WeightedTokens); 0 on padding
  segment_ids  int32   1, 2, 3, ... numbers the examples packed into a row; 0 = padding
  positions    int32   0, 1, 2, ... restarting at every example (chunk) in the row

The shift is done per example before packing: an example t_0 .. t_m gets eos appended and gives
inputs [t_0 .. t_m] and targets [t_1 .. t_m, eos]. So every target lies in the same example as
its input, the model never learns to predict across a packing boundary, and the trainer needs no
shifting or masking of its own beyond the causal mask and `segment_ids`. (The first token of an
example is read but never predicted, as with any LM without a bos token.)

An example is a token-id sequence, every target of weight 1, or a WeightedTokens: token ids with
the weight of predicting each one, for tasks that score only some tokens (associative recall
scores the answers alone; the rest of the sequence is context the model reads, not text it must
predict). Weights travel with their targets through the shift, chunking and packing.

An example with more than seq_len positions is split into consecutive chunks of at most seq_len,
each its own segment with positions from 0. Every (input, target) pair lands in exactly one row
per epoch: packing moves examples between rows, it never drops or repeats one.

Training uses grain so its iterator can be checkpointed (get_state/set_state) with the model.
Evaluation is a deterministic, finite sequence of batches built directly in numpy.
"""
import functools
import math
from collections.abc import Sequence

import grain
import numpy as np

from synth.token_ids import EOS_ID

BATCH_KEYS = ("inputs", "targets", "weights", "segment_ids", "positions")


def check_sizes(seq_len: int, batch_size: int, shard_index: int, shard_count: int) -> None:
  """Raises a ValueError for a non-positive length or batch, or a shard out of range."""
  if seq_len < 1 or batch_size < 1:
    raise ValueError(f"seq_len and batch_size must be positive, got {seq_len} and {batch_size}")
  if shard_count < 1 or not 0 <= shard_index < shard_count:
    raise ValueError(f"shard_index must be in [0, shard_count), got {shard_index} of {shard_count}")


class WeightedTokens(Sequence):
  """An LM example's token ids with the weight of predicting each token.

  weights[i] is how much predicting tokens[i] counts in the loss (0 = read as context only).
  weights[0] is never used: nothing predicts an example's first token. The eos appended to the
  example gets weight 0: a task that weights its tokens scores exactly what it marks.

  It reads as the token-id array it holds (len, indexing, slicing and np.asarray give ids), so
  code that treats LM examples as token ids, such as prompting for samples, needs no change.
  """

  def __init__(self, tokens, weights):
    self.tokens = np.asarray(tokens, np.int32)
    self.weights = np.asarray(weights, np.float32)
    if self.tokens.ndim != 1 or self.weights.shape != self.tokens.shape:
      raise ValueError(f"WeightedTokens needs one weight per token, got {self.weights.shape} "
                       f"weights for {self.tokens.shape} tokens")

  def __len__(self) -> int:
    return len(self.tokens)

  def __getitem__(self, i):
    return self.tokens[i]

  def __array__(self, dtype=None, copy=None):
    return self.tokens if dtype is None else self.tokens.astype(dtype)

  def __repr__(self) -> str:
    return f"WeightedTokens({self.tokens.tolist()}, weights={self.weights.tolist()})"


def lm_pairs(tokens, eos_id: int = EOS_ID) -> dict[str, np.ndarray]:
  """One example's (inputs, targets, weights) after appending eos: targets are inputs shifted by
  one, and each target keeps its token's weight (1 unless the example is a WeightedTokens)."""
  seq = np.append(np.asarray(tokens, dtype=np.int32), np.int32(eos_id))
  if isinstance(tokens, WeightedTokens):
    weights = np.append(tokens.weights[1:], np.float32(0.0))
  else:
    weights = np.ones(len(seq) - 1, np.float32)
  return {"inputs": seq[:-1], "targets": seq[1:], "weights": weights}


class _SplitIntoChunks(grain.experimental.FlatMapTransform):
  """Splits an example's pairs into consecutive chunks of at most seq_len (none if empty)."""

  def __init__(self, seq_len: int):
    self.seq_len = seq_len

  def flat_map(self, example):
    n = len(example["inputs"])
    return [{k: v[i:i + self.seq_len] for k, v in example.items()}
            for i in range(0, n, self.seq_len)]


def _from_packed(row: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Renames grain's packed features to the batch keys (packing pads weights with 0)."""
  seg = row["inputs_segment_ids"].astype(np.int32)
  return {"inputs": row["inputs"], "targets": row["targets"],
          "weights": row["weights"].astype(np.float32), "segment_ids": seg,
          "positions": row["inputs_positions"].astype(np.int32)}


def _padded_row(chunk: dict[str, np.ndarray], seq_len: int) -> dict[str, np.ndarray]:
  """One chunk alone in a row, padded to seq_len (the pack=False layout)."""
  n = len(chunk["inputs"])
  row = {k: np.zeros(seq_len, np.int32) for k in ("inputs", "targets", "segment_ids", "positions")}
  row["inputs"][:n] = chunk["inputs"]
  row["targets"][:n] = chunk["targets"]
  row["segment_ids"][:n] = 1
  row["positions"][:n] = np.arange(n, dtype=np.int32)
  row["weights"] = np.zeros(seq_len, np.float32)
  row["weights"][:n] = chunk["weights"]
  return row


def read_options(threads: int) -> grain.ReadOptions:
  """How grain reads (and maps) examples before the iterator stage.

  0 threads reads in the calling thread, which is fastest for in-memory token lists. Sources that
  decode records and tokenize text (TFDS, files) gain from a few threads. Either way the order of
  the examples, and so the iterator state, does not depend on the thread count.
  """
  if threads < 0:
    raise ValueError(f"read threads must be >= 0, got {threads}")
  return grain.ReadOptions(num_threads=threads, prefetch_buffer_size=8 * threads)


def _as_map_dataset(examples) -> grain.MapDataset:
  if isinstance(examples, grain.MapDataset):
    return examples
  if len(examples) and not any(len(t) for t in examples):
    raise ValueError("every example is empty: there is no token to train on")
  return grain.MapDataset.source(examples)


def lm_train_iterator(examples, *, seq_len: int, batch_size: int, seed: int, pack: bool = True,
                      eos_id: int = EOS_ID, shard_index: int = 0, shard_count: int = 1,
                      read_threads: int = 0) -> grain.DatasetIterator:
  """An endless, checkpointable iterator of training batches for this process.

  Args:
    examples: a sequence (or grain.MapDataset) of token-id lists (or WeightedTokens), without
      eos.
    seq_len: tokens per row.
    batch_size: rows per batch on this process (the global batch / process count).
    seed: shuffle seed; each epoch is reshuffled from it deterministically.
    pack: first-fit pack several examples per row; False puts one chunk per row.
    eos_id: appended to every example.
    shard_index, shard_count: this process takes examples shard_index, shard_index +
      shard_count, ...; the shards of all processes are disjoint and cover the data.
    read_threads: threads that fetch examples (see read_options).

  Returns:
    A grain DatasetIterator of batch dicts (see the module docstring). Save `get_state()` with
    a checkpoint; `set_state(state)` on a fresh iterator built with the same arguments resumes
    with exactly the batches the uninterrupted iterator would have produced.
  """
  check_sizes(seq_len, batch_size, shard_index, shard_count)
  ds = _as_map_dataset(examples)[shard_index::shard_count]
  if len(ds) == 0:
    raise ValueError(f"shard {shard_index} of {shard_count} has no examples "
                     f"(the data has fewer than {shard_count} examples)")
  ds = ds.shuffle(seed=seed).repeat(None).map(functools.partial(lm_pairs, eos_id=eos_id))
  it = ds.to_iter_dataset(read_options(read_threads))
  it = grain.experimental.FlatMapIterDataset(it, _SplitIntoChunks(seq_len))
  if pack:
    # One packing round fills batch_size bins and emits them all: one batch, mostly full rows.
    it = grain.experimental.FirstFitPackIterDataset(
        it, length_struct={"inputs": seq_len, "targets": seq_len, "weights": seq_len},
        num_packing_bins=batch_size, shuffle_bins=False)
    it = it.map(_from_packed)
  else:
    it = it.map(functools.partial(_padded_row, seq_len=seq_len))
  return iter(it.batch(batch_size, drop_remainder=True))


def _plan_rows(lengths: Sequence[int], seq_len: int,
               pack: bool) -> list[list[tuple[int, int, int]]]:
  """Lays out examples (by pair count) into rows of (example, start, length) chunks.

  Packing is next-fit: a chunk joins the current row if it fits, else starts a new one. It only
  looks at lengths, so every process can plan every shard cheaply.
  """
  rows, fill = [], seq_len
  for ex, n in enumerate(lengths):
    for start in range(0, n, seq_len):
      ln = min(seq_len, n - start)
      if not pack or fill + ln > seq_len:
        rows.append([])
        fill = 0
      rows[-1].append((ex, start, ln))
      fill += ln
  return rows


class EvalBatches(Sequence):
  """A finite, deterministic sequence of eval batches (re-iterable; built lazily per batch)."""

  def __init__(self, examples: Sequence, rows: list, num_batches: int, *, seq_len: int,
               batch_size: int, eos_id: int):
    self._examples, self._rows = examples, rows
    self._num_batches, self.seq_len, self.batch_size, self._eos_id = (
        num_batches, seq_len, batch_size, eos_id)

  def __len__(self) -> int:
    return self._num_batches

  @property
  def num_examples(self) -> int:
    """Examples of this shard (each counted once across the batches)."""
    return len(self._examples)

  @property
  def num_tokens(self) -> float:
    """Predicted tokens of this shard, the sum of all weights: per example, its tokens after
    the first plus eos (an empty example has none and appears in no row), or the sum of a
    WeightedTokens example's target weights."""
    total = 0
    for row in self._rows:
      for ex, start, ln in row:
        example = self._examples[ex]
        if isinstance(example, WeightedTokens):
          total += float(lm_pairs(example, self._eos_id)["weights"][start:start + ln].sum())
        else:
          total += ln
    return total

  def __getitem__(self, b: int) -> dict[str, np.ndarray]:
    if not -self._num_batches <= b < self._num_batches:
      raise IndexError(f"eval batch {b} out of range ({self._num_batches} batches)")
    b %= self._num_batches
    shape = (self.batch_size, self.seq_len)
    out = {k: np.zeros(shape, np.int32) for k in ("inputs", "targets", "segment_ids", "positions")}
    out["weights"] = np.zeros(shape, np.float32)
    for r, row in enumerate(self._rows[b * self.batch_size:(b + 1) * self.batch_size]):
      fill = 0
      for seg, (ex, start, ln) in enumerate(row, 1):
        pairs = lm_pairs(self._examples[ex], self._eos_id)
        sl = slice(fill, fill + ln)
        out["inputs"][r, sl] = pairs["inputs"][start:start + ln]
        out["targets"][r, sl] = pairs["targets"][start:start + ln]
        out["weights"][r, sl] = pairs["weights"][start:start + ln]
        out["segment_ids"][r, sl] = seg
        out["positions"][r, sl] = np.arange(ln, dtype=np.int32)
        fill += ln
    return out


def lm_eval_batches(examples: Sequence, *, seq_len: int, batch_size: int, pack: bool = True,
                    eos_id: int = EOS_ID, shard_index: int = 0,
                    shard_count: int = 1) -> EvalBatches:
  """This process's eval batches: no shuffle, no repeat, every example exactly once.

  Examples are sharded like training (shard_index::shard_count), split into chunks of at most
  seq_len and next-fit packed (or one chunk per row if not `pack`) in their original order.
  The last batch is filled with all-padding rows (weights 0), and every process gets the same
  number of batches (shards with fewer rows get whole padding batches), so a multi-host eval
  loop runs the same number of steps everywhere. Sum losses with the weights.
  """
  check_sizes(seq_len, batch_size, shard_index, shard_count)
  lengths = [len(t) for t in examples]  # pairs: t_1 .. t_m and eos
  most_rows = max(len(_plan_rows(lengths[s::shard_count], seq_len, pack))
                  for s in range(shard_count))
  mine = list(range(shard_index, len(examples), shard_count))
  rows = _plan_rows(lengths[shard_index::shard_count], seq_len, pack)
  return EvalBatches([examples[i] for i in mine], rows, math.ceil(most_rows / batch_size),
                     seq_len=seq_len, batch_size=batch_size, eos_id=eos_id)
