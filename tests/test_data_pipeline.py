"""LM pipelines: packing keeps every token once, sharding, checkpointable state, eval coverage."""
import collections
import json

import grain
import numpy as np
import pytest

from synth.data.pipeline import BATCH_KEYS, lm_eval_batches, lm_train_iterator
from synth.token_ids import EOS_ID

SEQ_LEN = 16


def make_examples(n, seed=0, max_len=40):
  """Examples whose token ids are globally unique (>= 3), so every token can be traced back."""
  rng = np.random.default_rng(seed)
  lengths = rng.integers(0, max_len, size=n)
  lengths[:4] = [0, 1, SEQ_LEN, 2 * SEQ_LEN + 3]  # empty, single token, exact fit, multi-chunk
  starts = 3 + np.concatenate([[0], np.cumsum(lengths)[:-1]])
  return [list(range(s, s + ln)) for s, ln in zip(starts, lengths)]


def chunk_stream(examples, order, seq_len=SEQ_LEN):
  """The (inputs, targets) chunks the pipeline should see, in order, for example order `order`."""
  for i in order:
    seq = list(examples[i]) + [EOS_ID]
    for s in range(0, len(seq) - 1, seq_len):
      yield tuple(seq[s:min(s + seq_len, len(seq) - 1)]), tuple(seq[s + 1:s + seq_len + 1])


def segments(batch):
  """Every (inputs, targets) segment of a batch, checking the row layout on the way."""
  out = []
  for r in range(batch["inputs"].shape[0]):
    seg, pos, w = batch["segment_ids"][r], batch["positions"][r], batch["weights"][r]
    np.testing.assert_array_equal(w, (seg > 0).astype(np.float32))
    n_real = int((seg > 0).sum())
    assert (seg[n_real:] == 0).all(), "padding only at the end of a row"
    assert (batch["inputs"][r][n_real:] == 0).all() and (batch["targets"][r][n_real:] == 0).all()
    ids = seg[:n_real]
    if n_real == 0:
      continue
    assert ids[0] == 1 and (np.diff(ids) >= 0).all() and (np.diff(ids) <= 1).all()
    for k in range(1, int(ids.max()) + 1):
      idx = np.nonzero(seg == k)[0]
      np.testing.assert_array_equal(pos[idx], np.arange(len(idx)))
      out.append((tuple(batch["inputs"][r][idx].tolist()),
                  tuple(batch["targets"][r][idx].tolist())))
  return out


def take(it, n):
  return [next(it) for _ in range(n)]


@pytest.mark.parametrize("pack", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_train_keeps_every_token_once_per_epoch(pack, seed):
  examples = make_examples(60, seed=seed)
  batch_size = 4
  it = lm_train_iterator(examples, seq_len=SEQ_LEN, batch_size=batch_size, seed=seed, pack=pack)
  batches = take(it, 50)  # more than two epochs
  for b in batches:
    assert set(b) == set(BATCH_KEYS)
    for k, v in b.items():
      assert v.shape == (batch_size, SEQ_LEN)
      assert v.dtype == (np.float32 if k == "weights" else np.int32)
  got = [s for b in batches for s in segments(b)]
  # The example order grain uses: a seeded shuffle, reshuffled every epoch.
  order_ds = grain.MapDataset.range(len(examples)).shuffle(seed=seed).repeat(None)
  order = (order_ds[i] for i in range(10**6))
  expected, stream = [], chunk_stream(examples, order)
  while len(expected) < len(got):
    expected.append(next(stream))
  # Emitted segments are exactly a prefix of the chunk stream: nothing dropped or duplicated.
  assert collections.Counter(got) == collections.Counter(expected)
  n_chunks = sum(1 for _ in chunk_stream(examples, range(len(examples))))
  assert len(got) > 2 * n_chunks
  for inputs, targets in got:  # targets are the inputs shifted within the example
    assert inputs[1:] == targets[:-1]
  if pack:
    fill = np.mean([b["weights"].mean() for b in batches])
    assert fill > 0.7, f"packing left too much padding: {fill:.2f} of tokens used"


def test_shards_are_disjoint_and_cover():
  examples = make_examples(41, seed=3)
  seen = []
  for shard in range(2):
    it = lm_train_iterator(examples, seq_len=SEQ_LEN, batch_size=2, seed=5, shard_index=shard,
                           shard_count=2)
    tokens = set()
    for b in take(it, 40):
      tokens.update(b["inputs"][b["weights"] > 0].tolist())
    seen.append({i for i, ex in enumerate(examples) if ex and ex[0] in tokens})
  nonempty = {i for i, ex in enumerate(examples) if ex}
  assert not seen[0] & seen[1]
  assert seen[0] | seen[1] == nonempty


@pytest.mark.parametrize("pack", [True, False])
def test_iterator_state_round_trips(pack):
  examples = make_examples(30, seed=7)
  kwargs = dict(seq_len=SEQ_LEN, batch_size=3, seed=11, pack=pack)
  it = lm_train_iterator(examples, **kwargs)
  take(it, 23)  # crosses epoch boundaries
  state = json.loads(json.dumps(it.get_state()))  # checkpoints store it as JSON
  expected = take(it, 9)
  fresh = lm_train_iterator(examples, **kwargs)
  fresh.set_state(state)
  for a, b in zip(take(fresh, 9), expected):
    for k in BATCH_KEYS:
      np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("pack", [True, False])
@pytest.mark.parametrize("shard_count", [1, 2, 3])
def test_eval_counts_every_example_once(pack, shard_count):
  examples = make_examples(37, seed=2)
  batch_size = 4
  all_segments, lengths = [], set()
  for shard in range(shard_count):
    batches = lm_eval_batches(examples, seq_len=SEQ_LEN, batch_size=batch_size, pack=pack,
                              shard_index=shard, shard_count=shard_count)
    lengths.add(len(batches))
    listed = list(batches)
    assert len(listed) == len(batches)
    weight = 0.0
    for b in listed:
      assert {k: v.shape for k, v in b.items()} == {k: (batch_size, SEQ_LEN) for k in BATCH_KEYS}
      empty_rows = b["segment_ids"].max(axis=1) == 0
      assert (b["weights"][empty_rows] == 0).all() and (b["inputs"][empty_rows] == 0).all()
      all_segments += segments(b) if not empty_rows.all() else []
      weight += b["weights"].sum()
    assert weight == batches.num_tokens
  assert len(lengths) == 1, "every process must run the same number of eval steps"
  expected = list(chunk_stream(examples, range(len(examples))))
  assert collections.Counter(all_segments) == collections.Counter(expected)
  assert sum(len(t) for t, _ in all_segments) == sum(len(ex) for ex in examples)
  again = lm_eval_batches(examples, seq_len=SEQ_LEN, batch_size=batch_size, pack=pack)
  np.testing.assert_array_equal(again[len(again) - 1]["inputs"], list(again)[-1]["inputs"])


def test_bad_arguments_fail_clearly():
  examples = make_examples(5)
  with pytest.raises(ValueError, match="shard_index"):
    lm_train_iterator(examples, seq_len=8, batch_size=2, seed=0, shard_index=2, shard_count=2)
  with pytest.raises(ValueError, match="shard 6 of 8 has no examples"):
    lm_train_iterator(examples, seq_len=8, batch_size=2, seed=0, shard_index=6, shard_count=8)
  with pytest.raises(ValueError, match="every example is empty"):
    lm_train_iterator([[], []], seq_len=8, batch_size=2, seed=0)
  with pytest.raises(ValueError, match="seq_len and batch_size"):
    lm_eval_batches(examples, seq_len=0, batch_size=2)
  with pytest.raises(IndexError):
    lm_eval_batches(examples, seq_len=8, batch_size=2)[99]
