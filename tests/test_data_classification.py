"""Classifier pipelines: shapes and dtypes, sharding, checkpointable state, eval coverage."""
import collections
import json

import numpy as np
import pytest

from synth.data.classification import (CLASSIFICATION_KEYS, classification_eval_batches,
                                       classification_train_iterator)

SEQ_LEN = 8


def make_examples(n, regression=False, seed=0):
  """Example i holds token 3 + i first, so a row tells which example it is."""
  rng = np.random.default_rng(seed)
  return [{"inputs": np.concatenate([[3 + i], rng.integers(3, 50, size=rng.integers(0, 12))]),
           "label": float(rng.random() * 5) if regression else int(rng.integers(0, 3))}
          for i in range(n)]


def take(it, n):
  return [next(it) for _ in range(n)]


def example_ids(batch):
  return [int(r[0]) - 3 for r, w in zip(batch["inputs"], batch["weights"]) if w > 0]


@pytest.mark.parametrize("regression", [False, True])
def test_train_batches_cover_each_epoch(regression):
  examples = make_examples(20, regression)
  it = classification_train_iterator(examples, seq_len=SEQ_LEN, batch_size=4, seed=1,
                                     regression=regression)
  batches = take(it, 10)  # two epochs
  for b in batches:
    assert set(b) == set(CLASSIFICATION_KEYS)
    assert b["inputs"].shape == (4, SEQ_LEN) and b["inputs"].dtype == np.int32
    assert b["labels"].shape == (4,) and b["labels"].dtype == (np.float32 if regression
                                                                else np.int32)
    assert b["weights"].dtype == np.float32 and (b["weights"] == 1).all()
    for row, label, i in zip(b["inputs"], b["labels"], example_ids(b)):
      ids = examples[i]["inputs"][:SEQ_LEN]
      np.testing.assert_array_equal(row[:len(ids)], ids)
      assert (row[len(ids):] == 0).all()
      np.testing.assert_allclose(label, examples[i]["label"], rtol=1e-6)
  seen = [i for b in batches for i in example_ids(b)]
  assert sorted(seen[:20]) == sorted(seen[20:]) == list(range(20))


def test_shards_are_disjoint_and_cover():
  examples = make_examples(15)
  seen = [{i for b in take(classification_train_iterator(
      examples, seq_len=SEQ_LEN, batch_size=2, seed=0, shard_index=s, shard_count=2), 8)
      for i in example_ids(b)} for s in range(2)]
  assert not seen[0] & seen[1] and seen[0] | seen[1] == set(range(15))


def test_iterator_state_round_trips():
  examples = make_examples(13)
  kwargs = dict(seq_len=SEQ_LEN, batch_size=3, seed=4)
  it = classification_train_iterator(examples, **kwargs)
  take(it, 7)
  state = json.loads(json.dumps(it.get_state()))
  expected = take(it, 6)
  fresh = classification_train_iterator(examples, **kwargs)
  fresh.set_state(state)
  for a, b in zip(take(fresh, 6), expected):
    for k in CLASSIFICATION_KEYS:
      np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("shard_count", [1, 2, 3])
def test_eval_counts_every_example_once(shard_count):
  examples = make_examples(11)
  seen, lengths = [], set()
  for shard in range(shard_count):
    batches = classification_eval_batches(examples, seq_len=SEQ_LEN, batch_size=4,
                                          shard_index=shard, shard_count=shard_count)
    lengths.add(len(batches))
    for b in batches:
      assert ((b["weights"] == 0) == (b["inputs"].max(axis=1) == 0)).all()
      seen += example_ids(b)
    assert sum(b["weights"].sum() for b in batches) == batches.num_examples
  assert len(lengths) == 1
  assert collections.Counter(seen) == collections.Counter(range(11))
