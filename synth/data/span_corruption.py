"""T5's span corruption (Raffel et al. 2020, section 3.14): the C4 pre-training objective.

A chunk of a document loses about `noise_density` of its tokens in spans of mean length
`mean_span`. The inputs keep the other tokens with each dropped span replaced by a sentinel id;
the targets list every dropped span after its sentinel:

  tokens   a b c d e f g h         inputs   a b <S0> e f <S1>
  noise        ^ ^     ^ ^ ^       targets  <S0> c d <S1> g h     (noise marked ^)

so every token appears exactly once across inputs and targets. Sentinel k is vocab_size - 1 - k:
the top of the model's vocabulary, above every SentencePiece id (data.extra_ids reserves them).

The span layout follows T5's random_spans_noise_mask: the number of noise tokens is
round(n * density) (at least 1, at most n - 1), there are round(noise / mean_span) spans (at
least 1), the noise and the non-noise tokens are each cut into that many non-empty runs at
uniformly random places, and the runs alternate starting with non-noise. The randomness is a
function of the seed and the chunk's tokens, so a chunk is corrupted the same way in every epoch,
on every host and after a resume, and train and eval agree.
"""
import zlib

import numpy as np


def chunk_lengths(max_input_len: int, noise_density: float, mean_span: float) -> tuple[int, int]:
  """(raw tokens per chunk, targets length) so inputs fill max_input_len (eos included).

  T5's random_spans_helper: the longest chunk whose corrupted inputs plus eos fit, and the
  length its targets plus eos then take (512 -> 568 raw tokens and 114 targets at 0.15, 3).
  """
  def lengths(n):
    noise = int(round(n * noise_density))
    spans = int(round(noise / mean_span))
    return n - noise + spans + 1, noise + spans + 1
  n = max(max_input_len - 1, 1)
  while lengths(n + 1)[0] <= max_input_len:
    n += 1
  return n, lengths(n)[1]


def num_spans(length: int, noise_density: float, mean_span: float) -> int:
  """How many noise spans (so sentinels) a chunk of `length` tokens gets."""
  if length < 2:
    return 0
  noise = min(max(int(round(length * noise_density)), 1), length - 1)
  return min(max(int(round(noise / mean_span)), 1), noise, length - noise)


def _segment_lengths(num_items: int, num_segments: int, rng: np.random.Generator) -> np.ndarray:
  """`num_items` cut into `num_segments` non-empty runs at uniformly random places."""
  cuts = np.sort(rng.choice(num_items - 1, num_segments - 1, replace=False)) + 1
  return np.diff(np.concatenate([[0], cuts, [num_items]]))


def noise_mask(length: int, rng: np.random.Generator, noise_density: float,
               mean_span: float) -> np.ndarray:
  """Boolean mask of the noise tokens of a chunk (False everywhere for fewer than 2 tokens)."""
  spans = num_spans(length, noise_density, mean_span)
  if not spans:
    return np.zeros(length, bool)
  noise = min(max(int(round(length * noise_density)), 1), length - 1)
  noise_runs = _segment_lengths(noise, spans, rng)
  keep_runs = _segment_lengths(length - noise, spans, rng)
  runs = np.stack([keep_runs, noise_runs], axis=1).reshape(-1)
  return np.repeat(np.tile([False, True], spans), runs)


def sentinel_id(k: int, vocab_size: int) -> int:
  """The id that stands for the k-th dropped span: counted down from the top of the vocab."""
  return vocab_size - 1 - k


def corrupt(tokens, *, seed: int, vocab_size: int, noise_density: float = 0.15,
            mean_span: float = 3.0) -> dict[str, np.ndarray]:
  """One chunk's {'inputs', 'targets'} (no eos), deterministic given `seed` and the tokens."""
  tokens = np.asarray(tokens, np.int32)
  rng = np.random.default_rng([seed, zlib.crc32(tokens.tobytes()), len(tokens)])
  mask = noise_mask(len(tokens), rng, noise_density, mean_span)
  # Span k starts where the mask turns on for the k-th time.
  starts = mask & ~np.concatenate([[False], mask[:-1]])
  span = np.cumsum(starts) - 1
  sentinels = (vocab_size - 1 - span).astype(np.int32)
  inputs = np.where(starts, sentinels, tokens)[~mask | starts]
  # Targets: each noise token, preceded by its span's sentinel if it starts the span.
  noise = np.nonzero(mask)[0]
  first = starts[noise]
  slot = np.cumsum(1 + first) - 1
  targets = np.empty(len(noise) + int(first.sum()), np.int32)
  targets[slot] = tokens[noise]
  targets[slot[first] - 1] = sentinels[noise[first]]
  return {"inputs": inputs.astype(np.int32), "targets": targets}


def corrupt_document(tokens, *, seed: int, vocab_size: int, chunk_len: int,
                     noise_density: float = 0.15, mean_span: float = 3.0) -> list[dict]:
  """A document's tokens cut into chunks of `chunk_len`, each corrupted (none if empty)."""
  tokens = np.asarray(tokens, np.int32)
  return [corrupt(tokens[i:i + chunk_len], seed=seed, vocab_size=vocab_size,
                  noise_density=noise_density, mean_span=mean_span)
          for i in range(0, len(tokens), chunk_len)]
