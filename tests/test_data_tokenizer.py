"""SentencePiece tokenizer: deterministic training, atomic caching, exact round trips, errors."""
import pickle

import numpy as np
import pytest

from synth.data.tokenizer import Tokenizer, load_or_train_tokenizer, train_tokenizer

WORDS = ("the attention weights are synthesized from each token alone without pairwise dot "
         "products between queries and keys; random alignment matrices also work well").split()


def corpus(n=400, seed=0):
  """Generated sentences with some indented lines, like docstrings with code in them."""
  rng = np.random.default_rng(seed)
  texts = []
  for i in range(n):
    words = rng.choice(WORDS, size=rng.integers(3, 15))
    text = " ".join(words).capitalize() + "."
    if i % 5 == 0:
      text += "\n\n    >>> f(x) == 2 * x\n    True"
    texts.append(text)
  return texts


def test_trains_caches_and_reloads_identically(tmp_path):
  path = tmp_path / "vocab" / "spm_400.model"
  tok = load_or_train_tokenizer(str(path), corpus(), 400)
  assert path.exists() and [p.name for p in path.parent.iterdir()] == ["spm_400.model"]
  assert (tok.pad_id, tok.eos_id, tok.unk_id) == (0, 1, 2)
  assert 260 < tok.vocab_size <= 400

  def must_not_read():
    raise AssertionError("texts must not be read when the model file exists")
    yield

  again = load_or_train_tokenizer(str(path), must_not_read(), 400)
  assert again.model_proto == tok.model_proto == path.read_bytes()
  text = "Random alignment weights\n    >>> attention(x)  # naïve ☃"
  ids = tok.encode(text)
  assert ids == again.encode(text) and all(0 < i < tok.vocab_size for i in ids)
  assert tok.decode(ids) == text  # newlines, indentation and unseen characters survive
  assert tok.decode([0] + ids + [1, 0]) == text  # pad and eos are not text
  assert tok.decode(ids + [tok.vocab_size, tok.vocab_size + 99]) == text  # sentinels: no text
  assert tok.encode_batch([text, "the keys"]) == [ids, tok.encode("the keys")]
  assert pickle.loads(pickle.dumps(tok)).encode(text) == ids


def test_training_is_deterministic(tmp_path):
  a = load_or_train_tokenizer(str(tmp_path / "a.model"), corpus(), 400)
  b = train_tokenizer(iter(corpus()), 400)
  assert a.model_proto == b.model_proto


def test_corrupt_or_foreign_model_fails_clearly(tmp_path):
  bad = tmp_path / "spm.model"
  bad.write_bytes(b"half a model")
  with pytest.raises(ValueError, match=r"spm\.model is not a valid SentencePiece model"):
    load_or_train_tokenizer(str(bad), corpus(), 400)
  assert bad.read_bytes() == b"half a model"  # never overwritten behind the user's back
  with pytest.raises(ValueError, match="must end in .model"):
    load_or_train_tokenizer(str(tmp_path / "spm.vocab"), corpus(), 400)


def test_vocab_too_small_fails_clearly():
  with pytest.raises(ValueError, match="SentencePiece training failed for vocab_size=50"):
    train_tokenizer(corpus(50), 50)
  with pytest.raises(ValueError, match="vocab_size must be positive"):
    train_tokenizer(corpus(5), 0)


def test_rejects_a_model_with_other_special_ids():
  import io

  import sentencepiece as spm
  out = io.BytesIO()
  spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus()), model_writer=out,
                                 vocab_size=100, hard_vocab_limit=False, minloglevel=2)
  with pytest.raises(ValueError, match=r"\(pad, eos, unk, bos\) ids"):
    Tokenizer(out.getvalue(), name="foreign.model")
