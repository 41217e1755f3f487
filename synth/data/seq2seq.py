"""Token pairs -> numpy encoder-decoder batches: shard, seeded shuffle, pack in lockstep, batch.

A pair is {'inputs': ids, 'targets': ids} without eos. Each side is cut to its row length minus
one and gets eos appended, and the decoder reads the targets shifted right behind a 0 start token
(T5's convention): targets_in = [0, t_0, ..., t_{m-1}] for targets [t_0, ..., t_{m-1}, eos].
Every batch is a dict of numpy arrays, (batch_size, input_len) for the inputs_* keys and
(batch_size, target_len) for the others:

  inputs               int32   encoder tokens (0 = padding)
  targets_in           int32   decoder tokens: the targets shifted right, 0 first
  targets              int32   what the decoder predicts (0 = padding)
  weights              float32 1 where a target counts, 0 on padding
  inputs_segment_ids   int32   1, 2, 3, ... numbers the pairs packed into a row; 0 = padding
  inputs_positions     int32   0, 1, 2, ... restarting at every pair
  targets_segment_ids  int32   the same numbering on the target side: pair k's inputs and
                               targets share segment id k, so cross-attention stays in the pair
  targets_positions    int32

Packing puts several pairs in a row, the inputs and targets of a pair side by side in the same
row with the same segment id. Training drops over-long pairs instead of cutting them if asked
(`drop_long`), but evaluation always cuts, so that every eval pair is counted exactly once.
Training is a grain iterator (checkpointable with get_state/set_state); evaluation a finite,
deterministic sequence of batches with the same number of batches on every process.
"""
import functools
import math
from collections.abc import Sequence

import grain
import numpy as np

from synth.data.pipeline import check_sizes, read_options
from synth.token_ids import EOS_ID

SEQ2SEQ_KEYS = ("inputs", "targets_in", "targets", "weights", "inputs_segment_ids",
                "inputs_positions", "targets_segment_ids", "targets_positions")
# Training stops with an error after this many pairs in a row were all too long to keep.
MAX_CONSECUTIVE_DROPS = 10_000


def with_eos(ids, length: int, eos_id: int = EOS_ID) -> np.ndarray:
  """Token ids cut to `length - 1` with eos appended: every encoder input and target, in
  training and in decoding alike (a model trained on inputs ending in eos and decoded from
  inputs without it reads text it never saw)."""
  return np.append(np.asarray(ids, np.int32)[:length - 1], np.int32(eos_id))


def features(pair: dict, input_len: int, target_len: int, eos_id: int = EOS_ID) -> dict:
  """A pair cut to fit its rows, with eos appended and the shifted decoder inputs added."""
  inputs = with_eos(pair["inputs"], input_len, eos_id)
  targets = with_eos(pair["targets"], target_len, eos_id)
  return {"inputs": inputs, "targets": targets,
          "targets_in": np.concatenate([[0], targets[:-1]]).astype(np.int32)}


def fits(pair: dict, input_len: int, target_len: int) -> bool:
  """Whether the pair needs no cutting (eos included)."""
  return len(pair["inputs"]) < input_len and len(pair["targets"]) < target_len


def _pairs(element) -> list[dict]:
  """An example's pairs: a task yields one pair or a list of them (span corruption)."""
  return [element] if isinstance(element, dict) else list(element)


class _ToFeatures(grain.experimental.FlatMapTransform):
  """Example -> its pairs as features, cut to fit or (drop_long) left out if too long."""

  def __init__(self, input_len: int, target_len: int, drop_long: bool, eos_id: int):
    self.input_len, self.target_len, self.drop_long, self.eos_id = (
        input_len, target_len, drop_long, eos_id)
    self._dropped = 0

  def flat_map(self, element):
    out = []
    for pair in _pairs(element):
      if self.drop_long and not fits(pair, self.input_len, self.target_len):
        self._dropped += 1
        if self._dropped >= MAX_CONSECUTIVE_DROPS:
          raise ValueError(f"the last {self._dropped} training pairs were all longer than "
                           f"{self.input_len} input / {self.target_len} target tokens and were "
                           "dropped; raise data.max_input_len / max_target_len or set "
                           "data.drop_long=False")
        continue
      self._dropped = 0
      out.append(features(pair, self.input_len, self.target_len, self.eos_id))
    return out


def _from_packed(row: dict) -> dict:
  """Grain's packed features -> the batch keys."""
  tseg = row["targets_segment_ids"].astype(np.int32)
  return {"inputs": row["inputs"], "targets_in": row["targets_in"], "targets": row["targets"],
          "weights": (tseg > 0).astype(np.float32),
          "inputs_segment_ids": row["inputs_segment_ids"].astype(np.int32),
          "inputs_positions": row["inputs_positions"].astype(np.int32),
          "targets_segment_ids": tseg,
          "targets_positions": row["targets_positions"].astype(np.int32)}


def _empty_rows(rows: int, input_len: int, target_len: int) -> dict:
  out = {k: np.zeros((rows, input_len if k.startswith("inputs") else target_len), np.int32)
         for k in SEQ2SEQ_KEYS if k != "weights"}
  out["weights"] = np.zeros((rows, target_len), np.float32)
  return out


def _fill(out: dict, r: int, pieces: list[dict]) -> None:
  """Writes the features of `pieces` into row r of `out`, numbering them 1, 2, ..."""
  fill = {"inputs": 0, "targets": 0}
  for seg, f in enumerate(pieces, 1):
    for side, keys in (("inputs", ("inputs",)), ("targets", ("targets", "targets_in"))):
      n, start = len(f[side]), fill[side]
      for k in keys:
        out[k][r, start:start + n] = f[k]
      out[f"{side}_segment_ids"][r, start:start + n] = seg
      out[f"{side}_positions"][r, start:start + n] = np.arange(n, dtype=np.int32)
      fill[side] += n
  out["weights"][r] = out["targets_segment_ids"][r] > 0


def _padded_row(f: dict, input_len: int, target_len: int) -> dict:
  """One pair alone in a row (the pack=False layout)."""
  out = _empty_rows(1, input_len, target_len)
  _fill(out, 0, [f])
  return {k: v[0] for k, v in out.items()}


def seq2seq_train_iterator(examples, *, input_len: int, target_len: int, batch_size: int,
                           seed: int, pack: bool = True, drop_long: bool = False,
                           eos_id: int = EOS_ID, shard_index: int = 0, shard_count: int = 1,
                           read_threads: int = 0) -> grain.DatasetIterator:
  """An endless, checkpointable iterator of this process's training batches.

  Args:
    examples: a sequence or grain.MapDataset whose elements are a pair {'inputs', 'targets'}
      of token ids (no eos) or a list of pairs.
    input_len, target_len: tokens per row on each side, eos included.
    batch_size: rows per batch on this process.
    seed: shuffle seed; every epoch is reshuffled from it.
    pack: first-fit pack several pairs per row; False puts one pair per row.
    drop_long: leave out pairs that would need cutting instead of cutting them.
    eos_id: appended to both sides.
    shard_index, shard_count: this process takes examples shard_index, shard_index +
      shard_count, ...: the shards are disjoint and cover the data.
    read_threads: threads that fetch (and tokenize) examples.
  """
  check_sizes(min(input_len, target_len), batch_size, shard_index, shard_count)
  if min(input_len, target_len) < 2:
    raise ValueError(f"input and target lengths must be >= 2 (one token and eos), got "
                     f"{input_len} and {target_len}")
  ds = examples if isinstance(examples, grain.MapDataset) else grain.MapDataset.source(examples)
  ds = ds[shard_index::shard_count]
  if len(ds) == 0:
    raise ValueError(f"shard {shard_index} of {shard_count} has no examples "
                     f"(the data has fewer than {shard_count} examples)")
  it = ds.shuffle(seed=seed).repeat(None).to_iter_dataset(read_options(read_threads))
  it = grain.experimental.FlatMapIterDataset(
      it, _ToFeatures(input_len, target_len, drop_long, eos_id))
  if pack:
    it = grain.experimental.FirstFitPackIterDataset(
        it, length_struct={"inputs": input_len, "targets": target_len, "targets_in": target_len},
        num_packing_bins=batch_size, shuffle_bins=False)
    it = it.map(_from_packed)
  else:
    it = it.map(functools.partial(_padded_row, input_len=input_len, target_len=target_len))
  return iter(it.batch(batch_size, drop_remainder=True))


def _plan_rows(sizes: Sequence[tuple[int, int]], input_len: int, target_len: int,
               pack: bool) -> list[list[int]]:
  """Next-fit layout of pairs (by their featured lengths) into rows of pair indices."""
  rows, fill = [], (input_len, target_len)
  for i, (n_in, n_tgt) in enumerate(sizes):
    if not pack or fill[0] + n_in > input_len or fill[1] + n_tgt > target_len:
      rows.append([])
      fill = (0, 0)
    rows[-1].append(i)
    fill = (fill[0] + n_in, fill[1] + n_tgt)
  return rows


class Seq2SeqEvalBatches(Sequence):
  """A finite, deterministic sequence of eval batches (re-iterable; built per batch)."""

  def __init__(self, pairs: Sequence[dict], rows: list[list[int]], num_batches: int, *,
               input_len: int, target_len: int, batch_size: int, eos_id: int):
    self._pairs, self._rows, self._num_batches = pairs, rows, num_batches
    self.input_len, self.target_len, self.batch_size, self._eos_id = (
        input_len, target_len, batch_size, eos_id)

  def __len__(self) -> int:
    return self._num_batches

  @property
  def num_examples(self) -> int:
    """Pairs of this shard (each counted once across the batches)."""
    return len(self._pairs)

  @property
  def num_tokens(self) -> int:
    """Target tokens of this shard (eos included): the sum of all weights."""
    return sum(min(len(p["targets"]), self.target_len - 1) + 1 for p in self._pairs)

  def __getitem__(self, b: int) -> dict:
    if not -self._num_batches <= b < self._num_batches:
      raise IndexError(f"eval batch {b} out of range ({self._num_batches} batches)")
    b %= self._num_batches
    out = _empty_rows(self.batch_size, self.input_len, self.target_len)
    for r, row in enumerate(self._rows[b * self.batch_size:(b + 1) * self.batch_size]):
      _fill(out, r, [features(self._pairs[i], self.input_len, self.target_len, self._eos_id)
                     for i in row])
    return out


def seq2seq_eval_batches(pairs: Sequence[dict], *, input_len: int, target_len: int,
                         batch_size: int, pack: bool = True, eos_id: int = EOS_ID,
                         shard_index: int = 0, shard_count: int = 1) -> Seq2SeqEvalBatches:
  """This process's eval batches: no shuffle, no repeat, every pair exactly once (cut to fit).

  Pairs are sharded like training and next-fit packed (or one per row) in their order. The last
  batch is filled with all-padding rows (weights 0) and every process gets the same number of
  batches, so a multi-host eval loop runs the same number of steps everywhere.
  """
  check_sizes(min(input_len, target_len), batch_size, shard_index, shard_count)
  sizes = [(min(len(p["inputs"]), input_len - 1) + 1, min(len(p["targets"]), target_len - 1) + 1)
           for p in pairs]
  most_rows = max(len(_plan_rows(sizes[s::shard_count], input_len, target_len, pack))
                  for s in range(shard_count))
  mine = [pairs[i] for i in range(shard_index, len(pairs), shard_count)]
  rows = _plan_rows(sizes[shard_index::shard_count], input_len, target_len, pack)
  return Seq2SeqEvalBatches(mine, rows, math.ceil(most_rows / batch_size), input_len=input_len,
                            target_len=target_len, batch_size=batch_size, eos_id=eos_id)
