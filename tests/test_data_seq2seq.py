"""Encoder-decoder pipelines and span corruption: every token once, lockstep packing, sharding,
checkpointable state, eval coverage."""
import collections
import json

import grain
import numpy as np
import pytest

from synth.data import seq2seq
from synth.data import span_corruption as sc
from synth.data.seq2seq import (SEQ2SEQ_KEYS, features, seq2seq_eval_batches,
                                seq2seq_train_iterator)
from synth.token_ids import EOS_ID

INPUT_LEN, TARGET_LEN = 16, 12
VOCAB = 1000


def make_pairs(n, seed=0):
  """Pairs whose token ids are globally unique (3..), so every token can be traced back."""
  rng = np.random.default_rng(seed)
  pairs, next_id = [], 3
  for i in range(n):
    n_in, n_tgt = rng.integers(0, 9), rng.integers(0, 7)
    if i == 0:
      n_in, n_tgt = INPUT_LEN + 5, TARGET_LEN + 5  # longer than a row: cut
    ids = np.arange(next_id, next_id + n_in + n_tgt, dtype=np.int32)
    next_id += n_in + n_tgt
    pairs.append({"inputs": ids[:n_in], "targets": ids[n_in:]})
  return pairs


def expected_features(pair):
  f = features(pair, INPUT_LEN, TARGET_LEN)
  return tuple(f["inputs"].tolist()), tuple(f["targets"].tolist())


def segments(batch):
  """Every (inputs, targets) pair of a batch, checking the lockstep row layout on the way."""
  out = []
  for r in range(batch["inputs"].shape[0]):
    iseg, tseg = batch["inputs_segment_ids"][r], batch["targets_segment_ids"][r]
    np.testing.assert_array_equal(batch["weights"][r], (tseg > 0).astype(np.float32))
    for side, seg in (("inputs", iseg), ("targets", tseg)):
      n = int((seg > 0).sum())
      assert (seg[n:] == 0).all() and (batch[side][r][n:] == 0).all(), "padding only at the end"
    assert set(np.unique(iseg[iseg > 0])) == set(np.unique(tseg[tseg > 0])), "lockstep ids"
    for k in np.unique(iseg[iseg > 0]):
      i_idx, t_idx = np.nonzero(iseg == k)[0], np.nonzero(tseg == k)[0]
      np.testing.assert_array_equal(batch["inputs_positions"][r][i_idx], np.arange(len(i_idx)))
      np.testing.assert_array_equal(batch["targets_positions"][r][t_idx], np.arange(len(t_idx)))
      inputs, targets = batch["inputs"][r][i_idx], batch["targets"][r][t_idx]
      assert inputs[-1] == EOS_ID and targets[-1] == EOS_ID
      np.testing.assert_array_equal(batch["targets_in"][r][t_idx],
                                    np.concatenate([[0], targets[:-1]]))
      out.append((tuple(inputs.tolist()), tuple(targets.tolist())))
  return out


def take(it, n):
  return [next(it) for _ in range(n)]


# ------------------------------------------------------------------------------------------------
# Span corruption
# ------------------------------------------------------------------------------------------------
def uncorrupt(inputs, targets):
  """The original tokens: each sentinel of the inputs replaced by its span from the targets."""
  spans, current = {}, None
  for t in targets.tolist():
    if t >= VOCAB - 100:
      current = spans.setdefault(t, [])
    else:
      current.append(t)
  out = []
  for t in inputs.tolist():
    out.extend(spans.pop(t) if t >= VOCAB - 100 else [t])
  assert not spans, "every target span is used once"
  return out


@pytest.mark.parametrize("length", [0, 1, 2, 3, 7, 50, 568])
def test_span_corruption_keeps_every_token_once(length):
  tokens = np.arange(3, 3 + length, dtype=np.int32)
  out = sc.corrupt(tokens, seed=0, vocab_size=VOCAB)
  assert uncorrupt(out["inputs"], out["targets"]) == tokens.tolist()
  sentinels_in = [t for t in out["inputs"].tolist() if t >= VOCAB - 100]
  sentinels_out = [t for t in out["targets"].tolist() if t >= VOCAB - 100]
  # Sentinels count down from the top of the vocab, in order, the same on both sides.
  assert sentinels_in == sentinels_out == [VOCAB - 1 - k for k in range(len(sentinels_in))]
  assert len(sentinels_in) == sc.num_spans(length, 0.15, 3.0)
  if length >= 2:
    assert out["targets"][0] == VOCAB - 1  # targets start with the first span's sentinel
    assert len(sentinels_in) >= 1


def test_span_corruption_density_lengths_and_determinism():
  rng = np.random.default_rng(0)
  noise = total = 0
  span_lengths = []
  for _ in range(300):
    tokens = rng.integers(3, VOCAB - 100, size=rng.integers(20, 300)).astype(np.int32)
    out = sc.corrupt(tokens, seed=5, vocab_size=VOCAB)
    n_sentinels = int((out["targets"] >= VOCAB - 100).sum())
    noise += len(out["targets"]) - n_sentinels
    total += len(tokens)
    span_lengths.append((len(out["targets"]) - n_sentinels) / n_sentinels)
    again = sc.corrupt(tokens, seed=5, vocab_size=VOCAB)
    np.testing.assert_array_equal(out["inputs"], again["inputs"])
  assert abs(noise / total - 0.15) < 0.01
  assert abs(np.mean(span_lengths) - 3.0) < 0.4
  tokens = np.arange(3, 203, dtype=np.int32)
  a, b = (sc.corrupt(tokens, seed=s, vocab_size=VOCAB)["inputs"] for s in (1, 2))
  assert len(a) != len(b) or (a != b).any(), "the seed changes the spans"
  # T5's sizes: 568 raw tokens give 512 inputs and 114 targets (eos included).
  assert sc.chunk_lengths(512, 0.15, 3.0) == (568, 114)
  doc = (np.arange(1200) % 800 + 3).astype(np.int32)
  chunks = sc.corrupt_document(doc, seed=0, vocab_size=VOCAB, chunk_len=568)
  assert [len(c["inputs"]) + 1 for c in chunks[:2]] == [512, 512]
  assert sum((uncorrupt(c["inputs"], c["targets"]) for c in chunks), []) == doc.tolist()


# ------------------------------------------------------------------------------------------------
# Training batches
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pack", [True, False])
def test_train_keeps_every_pair_once_per_epoch(pack):
  pairs = make_pairs(40, seed=1)
  batch_size = 4
  it = seq2seq_train_iterator(pairs, input_len=INPUT_LEN, target_len=TARGET_LEN,
                              batch_size=batch_size, seed=3, pack=pack)
  batches = take(it, 40 if pack else 25)  # more than two epochs
  for b in batches:
    assert set(b) == set(SEQ2SEQ_KEYS)
    for k, v in b.items():
      assert v.shape == (batch_size, INPUT_LEN if k.startswith("inputs") else TARGET_LEN)
      assert v.dtype == (np.float32 if k == "weights" else np.int32)
  got = [s for b in batches for s in segments(b)]
  order_ds = grain.MapDataset.range(len(pairs)).shuffle(seed=3).repeat(None)
  expected = [expected_features(pairs[order_ds[i]]) for i in range(len(got))]
  # The emitted pairs are exactly a prefix of the shuffled stream: nothing dropped or repeated.
  assert collections.Counter(got) == collections.Counter(expected)
  assert len(got) > 2 * len(pairs)
  assert len(got[0][0]) <= INPUT_LEN
  if pack:
    assert np.mean([b["inputs_segment_ids"].max(axis=1).mean() for b in batches]) > 1.5


def test_long_pairs_are_cut_or_dropped(monkeypatch):
  pairs = make_pairs(10, seed=2)
  cut = features(pairs[0], INPUT_LEN, TARGET_LEN)
  assert len(cut["inputs"]) == INPUT_LEN and len(cut["targets"]) == TARGET_LEN
  np.testing.assert_array_equal(cut["inputs"][:-1], pairs[0]["inputs"][:INPUT_LEN - 1])
  it = seq2seq_train_iterator(pairs, input_len=INPUT_LEN, target_len=TARGET_LEN, batch_size=2,
                              seed=0, pack=False, drop_long=True)
  first_long = int(pairs[0]["inputs"][0])
  for b in take(it, 30):
    assert first_long not in b["inputs"]
  monkeypatch.setattr(seq2seq, "MAX_CONSECUTIVE_DROPS", 50)
  with pytest.raises(ValueError, match="the last 50 training pairs were all longer than 4 input"):
    next(seq2seq_train_iterator([pairs[0]], input_len=4, target_len=4, batch_size=1, seed=0,
                                drop_long=True))


def test_shards_are_disjoint_and_cover():
  pairs = make_pairs(31, seed=4)
  seen = []
  for shard in range(2):
    it = seq2seq_train_iterator(pairs, input_len=INPUT_LEN, target_len=TARGET_LEN, batch_size=2,
                                seed=5, shard_index=shard, shard_count=2)
    got = {s for b in take(it, 30) for s in segments(b)}
    seen.append({i for i, p in enumerate(pairs) if expected_features(p) in got})
  assert not seen[0] & seen[1] and seen[0] | seen[1] == set(range(len(pairs)))


@pytest.mark.parametrize("pack,threads", [(True, 0), (False, 0), (True, 2)])
def test_iterator_state_round_trips(pack, threads):
  pairs = make_pairs(25, seed=6)
  kwargs = dict(input_len=INPUT_LEN, target_len=TARGET_LEN, batch_size=3, seed=7, pack=pack,
                read_threads=threads)
  it = seq2seq_train_iterator(pairs, **kwargs)
  first = take(it, 19)  # crosses epoch boundaries
  state = json.loads(json.dumps(it.get_state()))  # checkpoints store it as JSON
  expected = take(it, 7)
  if threads:  # reading threads change nothing about the data
    plain = seq2seq_train_iterator(pairs, **{**kwargs, "read_threads": 0})
    for a, b in zip(take(plain, 26), first + expected):
      np.testing.assert_array_equal(a["inputs"], b["inputs"])
  fresh = seq2seq_train_iterator(pairs, **kwargs)
  fresh.set_state(state)
  for a, b in zip(take(fresh, 7), expected):
    for k in SEQ2SEQ_KEYS:
      np.testing.assert_array_equal(a[k], b[k])


def test_span_corruption_lists_flow_through_the_pipeline():
  docs = [np.arange(3 + 100 * i, 3 + 100 * i + n, dtype=np.int32) for i, n in
          enumerate([30, 5, 80, 1, 45])]
  examples = [sc.corrupt_document(d, seed=0, vocab_size=VOCAB, chunk_len=14) for d in docs]
  it = seq2seq_train_iterator(examples, input_len=INPUT_LEN, target_len=TARGET_LEN, batch_size=2,
                              seed=0)
  tokens = set()
  for b in take(it, 12):
    for inputs, targets in segments(b):
      tokens.update(t for t in inputs + targets if 2 < t < VOCAB - 100)
  assert tokens == {int(t) for d in docs for t in d}


# ------------------------------------------------------------------------------------------------
# Eval batches
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pack", [True, False])
@pytest.mark.parametrize("shard_count", [1, 2, 3])
def test_eval_counts_every_pair_once(pack, shard_count):
  pairs = make_pairs(23, seed=8)
  batch_size, got, lengths = 4, [], set()
  for shard in range(shard_count):
    batches = seq2seq_eval_batches(pairs, input_len=INPUT_LEN, target_len=TARGET_LEN,
                                   batch_size=batch_size, pack=pack, shard_index=shard,
                                   shard_count=shard_count)
    lengths.add(len(batches))
    weight = 0.0
    for b in batches:
      empty = b["targets_segment_ids"].max(axis=1) == 0
      assert (b["weights"][empty] == 0).all() and (b["inputs"][empty] == 0).all()
      got += segments(b)
      weight += b["weights"].sum()
    assert weight == batches.num_tokens
  assert len(lengths) == 1, "every process runs the same number of eval steps"
  assert collections.Counter(got) == collections.Counter(expected_features(p) for p in pairs)
