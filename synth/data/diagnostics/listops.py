"""ListOps (Nangia & Bowman 2018) as the Long Range Arena generates it: a 10-class encoder task.

An example is a nested prefix expression over the digits 0-9 and four list operators, written as
whitespace-separated symbols, and its label is the expression's value:

  [MAX 2 9 [MIN 4 7 ] 0 ]                  -> 9
  [SM [MED 1 2 3 4 ] 9 [MAX 0 1 ] ]        -> 2    (MED of 1 2 3 4 is 2; (2 + 9 + 1) mod 10)

The grammar and sampling follow LRA's generator (lra_benchmarks/data/listops.py): a node is an
operator with probability operator_p (LRA: 0.25) unless it sits at depth max_depth (the root is
depth 1; LRA: 10), otherwise a uniform digit; an operator is uniform over MAX, MIN, MED and SM
(sum mod 10) and takes 2..max_args arguments (LRA: 10). MED is LRA's int(np.median(...)): for
an even count, the mean of the two middle values rounded down. Expressions are kept only if
their length in symbols (operators, ']' and digits) is within [min_length, max_length] (LRA keeps
500 < length < 2000 and runs at 2000 tokens; this task is meant for length <= 512).

Two things differ from LRA's files on purpose. The symbols are exactly the grammar's, one token
each: LRA writes binary-tree parentheses '( ... )' into its TSV files, and its input pipeline's
tfds Tokenizer then splits on non-alphanumeric characters, which drops the parentheses and also
the ']' that close each list (so its models read an ambiguous flattened expression); here ']'
stays a token, and the parentheses, which carry no information, are never written. And the
splits are disjoint by a hash of the expression (synth.data.diagnostics.common), where LRA
deduplicates the set of all its trees before cutting it into splits.

`evaluate` is the reference evaluator: it parses the text alone, independently of the generator,
so tests can check every generated label against it. Knobs live in config.data.listops (see
configs/listops.py and ListOpsKnobs).
"""
import dataclasses
import functools
import random
import statistics

from synth.data.diagnostics.common import (GeneratedSplit, check_positive, check_split,
                                           knobs_from_config)
from synth.data.registry import DataTask, register_task
from synth.data.symbols import SymbolVocabulary

NAME = "listops"
MAX, MIN, MED, SUM_MOD, END = "[MAX", "[MIN", "[MED", "[SM", "]"
OPERATORS = (MAX, MIN, MED, SUM_MOD)
DIGITS = tuple(str(d) for d in range(10))
VOCABULARY = SymbolVocabulary(OPERATORS + (END,) + DIGITS, name="listops")
LABEL_NAMES = DIGITS


@dataclasses.dataclass(frozen=True)
class ListOpsKnobs:
  """The generator's settings (config.data.listops); each bad combination is a one-line error."""
  # Expression length in symbols (operators, ']' and digits), both bounds included.
  min_length: int = 32
  max_length: int = 128
  # Deepest node (the root is depth 1; nodes at max_depth are digits), and arguments per operator.
  max_depth: int = 10
  max_args: int = 10
  # Chance that a node above max_depth is an operator rather than a digit.
  operator_p: float = 0.25
  # Examples per split (generated on access).
  train_examples: int = 96_000
  eval_examples: int = 2000
  # The data seed: the same seed gives the same examples (independent of the training seed).
  seed: int = 0

  def __post_init__(self):
    check_positive("data.listops", min_length=self.min_length, max_length=self.max_length,
                   max_depth=self.max_depth, train_examples=self.train_examples,
                   eval_examples=self.eval_examples)
    if self.min_length > self.max_length:
      raise ValueError(f"data.listops.min_length={self.min_length} exceeds max_length="
                       f"{self.max_length}; no expression can have both")
    if self.max_args < 2:
      raise ValueError(f"data.listops.max_args={self.max_args}: an operator takes 2 to max_args "
                       "arguments, so max_args must be at least 2")
    if not 0.0 <= self.operator_p < 1.0:
      raise ValueError(f"data.listops.operator_p={self.operator_p} must be in [0, 1): at 1 no "
                       "expression would ever end")
    longest = longest_expression(self.max_depth, self.max_args)
    if self.min_length > longest or (self.operator_p == 0 and self.min_length > 1):
      most = 1 if self.operator_p == 0 else longest
      raise ValueError(f"data.listops.min_length={self.min_length} is unreachable: with "
                       f"max_depth={self.max_depth}, max_args={self.max_args} and operator_p="
                       f"{self.operator_p} no expression is longer than {most} symbols; lower "
                       "min_length or raise max_depth / max_args")
    if self.max_length < 4 and self.min_length > 1:
      raise ValueError(f"data.listops: the shortest expression with an operator has 4 symbols "
                       f"('[MAX 1 2 ]'), so min_length={self.min_length} needs max_length >= 4, "
                       f"got {self.max_length}")


def longest_expression(max_depth: int, max_args: int) -> int:
  """Symbols in the largest tree the grammar allows: every node above max_depth an operator
  with max_args arguments."""
  length = 1
  for _ in range(max_depth - 1):
    length = 2 + max_args * length
  return length


def knobs(config) -> ListOpsKnobs:
  return knobs_from_config(ListOpsKnobs, config, NAME)


def _apply(op: str, args: list[int]) -> int:
  if op == MAX:
    return max(args)
  if op == MIN:
    return min(args)
  if op == SUM_MOD:
    return sum(args) % 10
  s = sorted(args)
  mid = len(s) // 2
  return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) // 2


class _TooLong(Exception):
  """The expression being drawn already exceeds max_length: reject it without finishing."""


def _node(rng: random.Random, depth: int, k: ListOpsKnobs, out: list[str]) -> int:
  """Appends one random subtree's symbols to `out` and returns its value (the generator's own
  evaluation, computed while building; `evaluate` recomputes it from the text)."""
  # Every choice is one rng.random() scaled to a uniform integer (a tenth of randint's cost:
  # generation is most of a small model's input time).
  random_ = rng.random
  if depth < k.max_depth and random_() < k.operator_p:
    num_args = 2 + int(random_() * (k.max_args - 1))
    op = OPERATORS[int(random_() * 4)]
    out.append(op)
    args = [_node(rng, depth + 1, k, out) for _ in range(num_args)]
    out.append(END)
    value = _apply(op, args)
  else:
    value = int(random_() * 10)
    out.append(DIGITS[value])
  if len(out) > k.max_length:
    raise _TooLong
  return value


def draw(rng: random.Random, k: ListOpsKnobs) -> dict | None:
  """One candidate {'text', 'label'}, or None if its length is outside the knobs (a tree that
  outgrows max_length is abandoned as soon as it does: LRA would reject it once complete, so the
  kept expressions are distributed exactly as LRA's length filter leaves them)."""
  out = []
  try:
    label = _node(rng, 1, k, out)
  except _TooLong:
    return None
  if len(out) < k.min_length:
    return None
  return {"text": " ".join(out), "label": label}


def evaluate(text: str) -> int:
  """The reference evaluator: the value of a ListOps expression, parsed from its text alone.

  Raises ValueError for anything that is not one well-formed expression.
  """
  return _parse(text)[0]


def depth(text: str) -> int:
  """Depth of the expression's tree: 1 for a lone digit, 1 + the deepest argument otherwise."""
  return _parse(text)[1]


def _parse(text: str) -> tuple[int, int]:
  """(value, depth) of a well-formed expression, by a stack of open lists."""
  meaning = {MAX: max, MIN: min, MED: lambda a: int(statistics.median(a)),
             SUM_MOD: lambda a: sum(a) % 10}
  stack: list[tuple[str, list[tuple[int, int]]]] = []
  result = None
  for symbol in text.split():
    if result is not None:
      raise ValueError(f"'{symbol}' after the end of the expression in '{text[:60]}'")
    if symbol in meaning:
      stack.append((symbol, []))
      continue
    if symbol == END:
      if not stack or not stack[-1][1]:
        raise ValueError(f"']' closes no operator with arguments in '{text[:60]}'")
      op, args = stack.pop()
      item = (meaning[op]([v for v, _ in args]), 1 + max(d for _, d in args))
    elif symbol in DIGITS:
      item = (int(symbol), 1)
    else:
      raise ValueError(f"unknown ListOps symbol '{symbol}'")
    if stack:
      stack[-1][1].append(item)
    else:
      result = item
  if result is None:
    raise ValueError(f"unfinished ListOps expression '{text[:60]}'")
  return result


def source(split: str, config) -> GeneratedSplit:
  check_split(split, NAME)
  k = knobs(config)
  size = k.train_examples if split == "train" else k.eval_examples
  return GeneratedSplit(NAME, k.seed, split, size, functools.partial(draw, k=k),
                        hint="; widen min_length..max_length")


def check(config) -> None:
  """The knobs, and rows long enough that no expression is cut (its label would be wrong)."""
  k = knobs(config)
  if int(config.data.seq_len) < k.max_length:
    raise ValueError(f"data.seq_len={config.data.seq_len} is shorter than data.listops.max_length="
                     f"{k.max_length}: long expressions would be cut and their labels lost; set "
                     f"data.seq_len to at least {k.max_length}")


TASK = register_task(DataTask(
    name=NAME, kind="classification", source=source, check=check, label_names=LABEL_NAMES,
    tokenizer=lambda config: VOCABULARY,
    description="ListOps (LRA grammar), 10-class value of a nested list expression"))
