"""A fixed symbolic vocabulary: the tokenizer of tasks whose examples are strings of known symbols.

Synthetic diagnostics (synth.data.diagnostics) are written in a small alphabet chosen by the
task: ListOps has 15 symbols ('[MAX', ']', '7', ...), associative recall a few hundred keys and
values. A SentencePiece model trained on such text would merge symbols into pieces (so one
'token' would no longer be one key or one digit, and the answer positions a task marks would
move), and its ids would depend on the training sample. A SymbolVocabulary instead maps each
whitespace-separated symbol to one id, fixed by the task's symbol list alone, so it needs no
training, no file and no sharing between runs, and a task can say which *tokens* are answers.

It has the interface synth.data.tokenizer.Tokenizer gives the pipelines (encode, encode_batch,
decode, vocab_size and the pad/eos/unk ids) and the same id convention: pad 0, eos 1, unk 2, then
the symbols in the order given, from id 3.
"""
from collections.abc import Iterable, Sequence

from synth.token_ids import EOS_ID, PAD_ID, UNK_ID

# Ids below this are the special tokens; the task's symbols follow.
FIRST_SYMBOL_ID = 3
_SPECIALS = {PAD_ID: "<pad>", EOS_ID: "</s>", UNK_ID: "<unk>"}


class SymbolVocabulary:
  """One id per symbol of a fixed alphabet; text is symbols separated by whitespace."""

  pad_id = PAD_ID
  eos_id = EOS_ID
  unk_id = UNK_ID

  def __init__(self, symbols: Iterable[str], *, name: str = "symbols"):
    """`symbols`: the alphabet in id order (no duplicates, none empty or containing whitespace);
    `name` labels the vocabulary in errors and listings."""
    self.symbols = tuple(symbols)
    self.name = name
    bad = [s for s in self.symbols if not s or s.split() != [s]]
    if bad:
      raise ValueError(f"vocabulary '{name}': symbols must be non-empty and hold no whitespace, "
                       f"got {bad[:3]!r}")
    if len(set(self.symbols)) != len(self.symbols):
      dupes = sorted({s for s in self.symbols if self.symbols.count(s) > 1})
      raise ValueError(f"vocabulary '{name}': symbols must be unique, got duplicates {dupes[:5]}")
    self._ids = {s: i for i, s in enumerate(self.symbols, FIRST_SYMBOL_ID)}

  @property
  def vocab_size(self) -> int:
    """Ids in use: the three special ids plus one per symbol."""
    return FIRST_SYMBOL_ID + len(self.symbols)

  def id_of(self, symbol: str) -> int:
    """The id of one symbol (unk for a symbol outside the alphabet)."""
    return self._ids.get(symbol, UNK_ID)

  def encode(self, text: str) -> list[int]:
    """Ids of the whitespace-separated symbols of `text`, without eos; unknown ones are unk."""
    return [self._ids.get(s, UNK_ID) for s in text.split()]

  def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
    return [self.encode(t) for t in texts]

  def decode(self, ids) -> str:
    """The symbols of `ids` joined by spaces; pad and eos are skipped (as the SentencePiece
    tokenizer skips them), unk and ids past the alphabet (a model's vocabulary may be larger)
    are written '<unk>'."""
    out = []
    for i in (int(i) for i in ids):
      if i in (PAD_ID, EOS_ID):
        continue
      j = i - FIRST_SYMBOL_ID
      out.append(self.symbols[j] if 0 <= j < len(self.symbols) else _SPECIALS[UNK_ID])
    return " ".join(out)

  def __eq__(self, other) -> bool:
    return isinstance(other, SymbolVocabulary) and other.symbols == self.symbols

  def __hash__(self) -> int:
    return hash(self.symbols)

  def __repr__(self) -> str:
    return f"SymbolVocabulary({self.name}, vocab_size={self.vocab_size})"
