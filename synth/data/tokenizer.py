"""SentencePiece tokenizer: load a model, or train one deterministically and cache it on disk.

Ids follow the convention of synth/token_ids.py that every model and loss assumes: pad = 0,
eos = 1, unk = 2, no bos. Training is made reproducible (one thread, fixed seed, identity
normalisation) so the same texts give a byte-identical model on every machine, and a resumed
run that retrains a lost vocabulary gets the same ids. Text round-trips exactly: newlines are a piece of their own,
whitespace is kept as written and unseen characters fall back to UTF-8 byte pieces, which
matters for a corpus of docstrings full of indented code.
"""
import io
import uuid
from collections.abc import Iterable, Iterator

import sentencepiece as spm
from etils import epath

from synth.token_ids import EOS_ID, PAD_ID, UNK_ID

# Lines longer than this many bytes are skipped by the trainer (its own default).
_MAX_LINE_BYTES = 4192
# Training samples at most this many lines; smaller corpora are used whole.
MAX_TRAIN_LINES = 2_000_000


class Tokenizer:
  """A SentencePiece model with the pad/eos/unk ids synth relies on."""

  pad_id = PAD_ID
  eos_id = EOS_ID
  unk_id = UNK_ID

  def __init__(self, model_proto: bytes, *, name: str = "<memory>"):
    """Builds the tokenizer from a serialized model; `name` only labels errors."""
    self._proto = bytes(model_proto)
    self.name = name
    try:
      self._sp = spm.SentencePieceProcessor(model_proto=self._proto)
    except RuntimeError as e:
      raise ValueError(f"{name} is not a valid SentencePiece model ({_first_line(e)}); "
                       "delete it to retrain") from None
    ids = (self._sp.pad_id(), self._sp.eos_id(), self._sp.unk_id(), self._sp.bos_id())
    if ids != (PAD_ID, EOS_ID, UNK_ID, -1):
      raise ValueError(f"{name} has (pad, eos, unk, bos) ids {ids}; synth needs "
                       f"({PAD_ID}, {EOS_ID}, {UNK_ID}, -1)")

  @classmethod
  def load(cls, path) -> "Tokenizer":
    """Loads a .model file (local or gs://)."""
    return cls(epath.Path(path).read_bytes(), name=str(path))

  @property
  def vocab_size(self) -> int:
    return self._sp.vocab_size()

  @property
  def model_proto(self) -> bytes:
    """The serialized model (what a .model file holds)."""
    return self._proto

  def encode(self, text: str) -> list[int]:
    """Token ids of `text`, without eos."""
    return self._sp.encode(text)

  def encode_batch(self, texts: list[str]) -> list[list[int]]:
    """Token ids of many texts at once (SentencePiece encodes them in parallel)."""
    return self._sp.encode(list(texts))

  def decode(self, ids) -> str:
    """Text of `ids`; pad and eos ids are skipped, and so are ids past the SentencePiece model
    (a model's vocabulary may be larger: span-corruption sentinels, or padding to a round
    size), which a model can still generate."""
    size = self.vocab_size
    return self._sp.decode([int(i) for i in ids if 0 <= int(i) < size])

  def __getstate__(self):
    # SentencePieceProcessor does not pickle; the serialized model does (grain workers need it).
    return {"model_proto": self._proto, "name": self.name}

  def __setstate__(self, state):
    self.__init__(state["model_proto"], name=state["name"])

  def __repr__(self) -> str:
    return f"Tokenizer({self.name}, vocab_size={self.vocab_size})"


def _first_line(e: Exception) -> str:
  return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _training_lines(texts: Iterable[str]) -> Iterator[str]:
  """Non-blank lines of the texts: the trainer reads sentences, and newlines are a piece."""
  for text in texts:
    for line in text.split("\n"):
      if line.strip():
        yield line


def train_tokenizer(texts: Iterable[str], vocab_size: int, *, seed: int = 0) -> Tokenizer:
  """Trains a unigram SentencePiece model on `texts`, deterministically.

  `vocab_size` is a ceiling: a corpus too small for it gives a smaller vocabulary
  (hard_vocab_limit=False) rather than an error. It must still exceed the number of distinct
  characters plus the 256 byte pieces and 4 special pieces.
  """
  if int(vocab_size) <= 0:
    raise ValueError(f"vocab_size must be positive, got {vocab_size}")
  spm.set_random_generator_seed(seed)
  writer = io.BytesIO()
  try:
    spm.SentencePieceTrainer.train(
        sentence_iterator=_training_lines(texts), model_writer=writer,
        vocab_size=int(vocab_size), model_type="unigram", character_coverage=1.0,
        hard_vocab_limit=False, pad_id=PAD_ID, eos_id=EOS_ID, unk_id=UNK_ID, bos_id=-1,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        user_defined_symbols=["\n"], byte_fallback=True, allow_whitespace_only_pieces=True,
        max_sentence_length=_MAX_LINE_BYTES, input_sentence_size=MAX_TRAIN_LINES,
        shuffle_input_sentence=True, num_threads=1, minloglevel=2)
  except RuntimeError as e:
    raise ValueError(f"SentencePiece training failed for vocab_size={vocab_size}: "
                     f"{_first_line(e)}") from None
  return Tokenizer(writer.getvalue(), name=f"<trained vocab_size={vocab_size}>")


def write_atomically(path, data: bytes) -> None:
  """Writes `data` to `path` (local or gs://) via a uniquely named temporary file and a rename,
  so no reader, concurrent writer or run killed mid-write ever leaves or sees a partial file."""
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.parent / f"{path.name}.{uuid.uuid4().hex}.tmp"
  try:
    tmp.write_bytes(data)
    tmp.replace(path)
  finally:
    if tmp.exists():
      tmp.unlink()


def load_or_train_tokenizer(path: str, texts: Iterable[str], vocab_size: int, *,
                            seed: int = 0) -> Tokenizer:
  """Loads the SentencePiece model at `path`, or trains one on `texts` and saves it there.

  `texts` is only consumed when training. An existing file is never overwritten: if it is not a
  valid model this raises a ValueError naming it, rather than silently retraining a vocabulary
  that checkpoints may depend on.
  """
  if not str(path).endswith(".model"):
    raise ValueError(f"tokenizer path must end in .model, got '{path}'")
  if epath.Path(path).exists():
    return Tokenizer.load(path)
  tok = train_tokenizer(texts, vocab_size, seed=seed)
  write_atomically(path, tok.model_proto)
  return Tokenizer.load(path)
