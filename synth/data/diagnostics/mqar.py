"""Multi-query associative recall (MQAR; Arora et al. 2023, "Zoology"), a decoder-LM task.

An example lays out `num_pairs` key-value pairs, then `num_queries` of those keys again, each
followed by its value, at random places in the rest of the sequence (filler '.' in between):

  k12 v3 k5 v30 k9 v17 k0 v8 . . k9 v17 . k12 v3 . .
  \\------------ pairs -----------/ \\---- queries ----/

Only the answers are scored: the value after each query key has target weight 1, every other
token 0 (the pairs, the query keys and the filler are context the model reads, not text it could
predict). Retrieving the answer means matching the query key's content against the earlier keys
and copying the token after the match: dot-product attention can, a mixing matrix that does not
depend on the input (Random, Fixed Random) has no way to, whatever positions it learns, since
where the key sits is itself random. Chance is 1 / num_pairs for a model that only knows the
answer is one of the context's values, so answer perplexity runs from about num_pairs (no
retrieval) down to 1 (perfect recall).

Vocabulary: `vocab_size` key and value symbols, the first half keys 'k0', 'k1', ... and the second
half values 'v0', 'v1', ... (Zoology splits its vocabulary the same way), plus the filler '.'.
Keys and values are drawn without replacement within an example, so every query has one answer;
the queried keys are distinct pairs' keys, in random order.

Differences from Zoology's generator, by design: queries sit in uniformly random, non-overlapping
slots after the pairs, not at power-law gaps; the gaps hold one filler symbol, not random tokens
(random keys in the gaps would look like unanswered queries); and because this is a plain LM
batch, the answer is also the next input token, so later queries could narrow their answer by
elimination among values already asked about (which num_queries < num_pairs keeps from ever
deciding it; Zoology hides the answer from the inputs). That matters in practice: with as many
queries as pairs, a small vanilla decoder settled on elimination and stayed there, while with
half as many it learnt to retrieve within a few hundred steps (measured in
experiments/diagnostics.py), so the configs ask about half the keys.

Knobs live in config.data.mqar (see configs/mqar.py and MQARKnobs).
"""
import dataclasses
import functools
import random

from synth.data.diagnostics.common import (GeneratedSplit, check_positive, check_split,
                                           knobs_from_config)
from synth.data.registry import DataTask, register_task
from synth.data.symbols import SymbolVocabulary

NAME = "mqar"
FILLER = "."


@dataclasses.dataclass(frozen=True)
class MQARKnobs:
  """The generator's settings (config.data.mqar); each bad combination is a one-line error."""
  # Key and value symbols together: the first vocab_size // 2 are keys, the rest values.
  vocab_size: int = 32
  # Key-value pairs at the start of every example.
  num_pairs: int = 4
  # Keys of those pairs asked again later (distinct ones), each followed by its answer.
  num_queries: int = 2
  # Tokens per example: 2 per pair, 2 per query, the rest filler.
  seq_len: int = 32
  # Examples per split (train is generated on access, so a large one costs nothing up front).
  train_examples: int = 100_000
  eval_examples: int = 1000
  # The data seed: the same seed gives the same examples (independent of the training seed).
  seed: int = 0

  def __post_init__(self):
    check_positive("data.mqar", vocab_size=self.vocab_size, num_pairs=self.num_pairs,
                   num_queries=self.num_queries, seq_len=self.seq_len,
                   train_examples=self.train_examples, eval_examples=self.eval_examples)
    if self.vocab_size < 2:
      raise ValueError(f"data.mqar.vocab_size={self.vocab_size} leaves no room for both keys "
                       "and values; it needs at least 2")
    keys, values = self.num_keys, self.vocab_size - self.num_keys
    if self.num_pairs > keys:
      raise ValueError(f"data.mqar.num_pairs={self.num_pairs} needs {self.num_pairs} distinct keys "
                       f"but vocab_size={self.vocab_size} has {keys} (half the vocabulary); raise "
                       f"vocab_size to at least {2 * self.num_pairs} or lower num_pairs")
    if self.num_pairs > values:
      raise ValueError(f"data.mqar.num_pairs={self.num_pairs} needs {self.num_pairs} distinct "
                       f"values but vocab_size={self.vocab_size} has {values}; raise vocab_size "
                       f"to at least {2 * self.num_pairs} or lower num_pairs")
    if self.num_queries > self.num_pairs:
      raise ValueError(f"data.mqar.num_queries={self.num_queries} exceeds num_pairs="
                       f"{self.num_pairs}: each query asks a different pair's key; lower "
                       f"num_queries or raise num_pairs")
    need = 2 * (self.num_pairs + self.num_queries)
    if self.seq_len < need:
      raise ValueError(f"data.mqar.seq_len={self.seq_len} cannot hold {self.num_pairs} pairs and "
                       f"{self.num_queries} queries (2 tokens each, {need} in all); raise seq_len "
                       f"to at least {need} or lower num_pairs / num_queries")

  @property
  def num_keys(self) -> int:
    return self.vocab_size // 2


def knobs(config) -> MQARKnobs:
  return knobs_from_config(MQARKnobs, config, NAME)


def vocabulary(k: MQARKnobs) -> SymbolVocabulary:
  """Keys k0.., values v0.., then the filler: fixed by vocab_size alone."""
  values = k.vocab_size - k.num_keys
  return SymbolVocabulary([f"k{i}" for i in range(k.num_keys)] +
                          [f"v{i}" for i in range(values)] + [FILLER], name=f"mqar{k.vocab_size}")


def draw(rng: random.Random, k: MQARKnobs) -> dict:
  """One example: {'text', 'weights'} with weight 1 on each answer token, 0 elsewhere."""
  keys = rng.sample(range(k.num_keys), k.num_pairs)
  values = rng.sample(range(k.vocab_size - k.num_keys), k.num_pairs)
  tokens = []
  for key, value in zip(keys, values):
    tokens += [f"k{key}", f"v{value}"]
  asked = rng.sample(range(k.num_pairs), k.num_queries)
  # The tail after the pairs holds (tail // 2) two-token slots; the queries take random ones.
  tail = k.seq_len - 2 * k.num_pairs
  slots = sorted(rng.sample(range(tail // 2), k.num_queries))
  rest = [FILLER] * tail
  weights = [0.0] * k.seq_len
  for slot, pair in zip(slots, asked):
    rest[2 * slot], rest[2 * slot + 1] = f"k{keys[pair]}", f"v{values[pair]}"
    weights[2 * k.num_pairs + 2 * slot + 1] = 1.0
  return {"text": " ".join(tokens + rest), "weights": weights}


def source(split: str, config) -> GeneratedSplit:
  check_split(split, NAME)
  k = knobs(config)
  size = k.train_examples if split == "train" else k.eval_examples
  return GeneratedSplit(NAME, k.seed, split, size, functools.partial(draw, k=k),
                        hint="; raise vocab_size or num_pairs")


def check(config) -> None:
  """The knobs, and rows long enough that an example is never split across two rows."""
  k = knobs(config)
  if int(config.data.seq_len) < k.seq_len:
    raise ValueError(f"data.seq_len={config.data.seq_len} is shorter than data.mqar.seq_len="
                     f"{k.seq_len}: the queries would be cut off from their pairs; set "
                     f"data.seq_len to at least {k.seq_len}")


TASK = register_task(DataTask(
    name=NAME, kind="lm", source=source, check=check,
    tokenizer=lambda config: vocabulary(knobs(config)),
    description="multi-query associative recall (Zoology), loss on the answers only"))
