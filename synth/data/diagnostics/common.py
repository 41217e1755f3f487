"""What the synthetic tasks share: knobs read from the config, seeded random-access splits that
can never hold the same example twice.

Determinism. Example i of a split is drawn by its own random.Random, seeded with the string
'<task>/<seed>/<split>/<i>' (Python hashes a str seed with SHA-512, so the stream is the same on
every machine, Python version 3.2+ and PYTHONHASHSEED). A split is therefore a pure function of
the task's knobs, read in any order, by any number of processes, without generating the rest:
grain's shuffle and per-process shards and a resumed run's data position all work unchanged, and
nothing is stored.

No leakage between splits. Every example has a canonical text (what the model reads). Its split is
fixed by a hash of that text: SHA-256 buckets 0-1 of 4 are train, 2 validation, 3 test. A split's
generator draws candidates until one falls in its own buckets, so an example identical to a
training example can only ever be drawn as a training example: the splits are disjoint by
construction, whatever their sizes and however small the space of examples, without either split
being generated to check the other. (Each split is then the generator's distribution restricted
to its buckets; for knobs with few possible examples, a very common example lives in one split
only, which is the point.)
"""
import dataclasses
import hashlib
import random
from collections.abc import Callable, Sequence

SPLITS = ("train", "validation", "test")
# SHA-256 bucket (first byte mod 4) -> split: train gets half the space, so it rejects fewer draws.
_BUCKET_SPLIT = ("train", "train", "validation", "test")
# Candidates one example may draw before the knobs are declared too tight to generate from.
MAX_DRAWS = 100_000


def split_of(text: str) -> str:
  """The only split an example with this canonical text can belong to."""
  return _BUCKET_SPLIT[hashlib.sha256(text.encode("utf-8")).digest()[0] % 4]


def check_split(split: str, task: str) -> None:
  if split not in SPLITS:
    raise ValueError(f"task '{task}' has splits {', '.join(SPLITS)}; got '{split}'")


class GeneratedSplit(Sequence):
  """A split of a synthetic task: `size` examples, example i drawn on access from its own seed.

  `draw(rng)` returns one candidate example (a dict with the canonical 'text'), or None to reject
  it (e.g. the wrong length); candidates of another split's hash buckets are rejected here.
  """

  def __init__(self, task: str, seed: int, split: str, size: int,
               draw: Callable[[random.Random], dict | None], *, hint: str = ""):
    check_split(split, task)
    self.task, self.seed, self.split, self.size = task, int(seed), split, int(size)
    self._draw, self._hint = draw, hint

  def __len__(self) -> int:
    return self.size

  def rng(self, i: int) -> random.Random:
    """Example i's own random stream."""
    return random.Random(f"{self.task}/{self.seed}/{self.split}/{i}")

  def __getitem__(self, i):
    if isinstance(i, slice):
      return [self[j] for j in range(*i.indices(self.size))]
    if not -self.size <= i < self.size:
      raise IndexError(f"{self.task} {self.split} example {i} out of range ({self.size})")
    i = int(i) % self.size
    rng = self.rng(i)
    for _ in range(MAX_DRAWS):
      example = self._draw(rng)
      if example is not None and split_of(example["text"]) == self.split:
        return example
    raise ValueError(f"task '{self.task}': no {self.split} example found in {MAX_DRAWS} draws; "
                     f"the knobs leave too few possible examples{self._hint}")


def knobs_from_config(cls, config, field: str):
  """The dataclass `cls` of a task's knobs from config.data.<field>: missing knobs keep their
  defaults, an unknown one is an error (a typo must not silently run the default)."""
  given = config.data.get(field)
  given = {} if given is None else dict(given)
  names = [f.name for f in dataclasses.fields(cls)]
  unknown = sorted(set(given) - set(names))
  if unknown:
    raise ValueError(f"data.{field} has unknown knob(s) {', '.join(unknown)}; the knobs are "
                     f"{', '.join(names)}")
  return cls(**given)


def check_positive(owner: str, **values) -> None:
  """A one-line ValueError for the first of `values` that is not a positive integer."""
  for name, value in values.items():
    if int(value) != value or value < 1:
      raise ValueError(f"{owner}.{name} must be a positive integer, got {value}")
