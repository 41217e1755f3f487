"""Greedy, sampling and beam search over any autoregressive step function.

The searches know nothing about models. They drive a step function

    step_fn(tokens (N,), cache) -> (logits (N, V), cache)

that takes the tokens fed at one step and a cache pytree and returns next-token logits and the
updated cache, so they run the same on a Transformer's decoding cache (synth.eval.decoding wraps
the models) and on a hand-made next-token table (the tests), and everything stays a pure function
under jit: one lax.while_loop with the cache in its carry.

Sequences. Step t (t = 0 .. length-1) feeds `first` (t = 0) or the token chosen at step t-1 and
chooses output token t. Optional forced tokens make a prefix: while t < num_forced[b], row b's
output t is forced[b, t] whatever the model says; forced tokens are not scored, do not count as
generated and never end a row (a decoder LM continuing prompts of different lengths uses this,
so every row's prompt is read at its true positions). After a row emits `eos_id` its later
outputs are padding (0). Tokens in `blocked` (the decoders block padding, which a real sequence
never contains) are never chosen; scores stay the model's own log-probabilities, not
renormalised over the other tokens. With no_repeat_ngram_size n > 0 no n-gram occurs twice in a
row's outputs (forced tokens included; they are never blocked themselves): at every step the
tokens that would complete an n-gram already there are blocked, per row and per beam (the rule
of fairseq and Hugging Face, which dialogue and summarisation models use against loops).

Caches. Leaves with a leading axis are per row; scalar leaves (the shared decode position) are
shared by all rows. Beam search takes the cache for the batch B, repeats every row beam_size
times and reorders rows by beam index after every step. Inputs that are the same for every beam
of an example (an encoder's memory) belong in the step function's closure, expanded once with
`expand_beams`: beams never move between examples, so they need no reordering.
"""
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from synth.token_ids import PAD_ID

NEG_INF = -jnp.inf

StepFn = Callable[[jax.Array, object], tuple[jax.Array, object]]


class Decoded(NamedTuple):
  """The best sequence per example.

  tokens:    (B, length) int32; padding (0) after the first generated eos.
  scores:    (B,) the ranking score: beam search divides log_probs by length_penalty(lengths);
             greedy and sampling report log_probs.
  log_probs: (B,) summed log-probabilities (temperature 1, unfiltered) of the generated tokens.
  lengths:   (B,) number of generated tokens, eos included, forced tokens excluded.
  steps:     () number of decoding steps run (fewer than length when every row stopped early).
  """
  tokens: jax.Array
  scores: jax.Array
  log_probs: jax.Array
  lengths: jax.Array
  steps: jax.Array


def length_penalty(length, alpha: float):
  """GNMT / Tensor2Tensor length normalisation ((5 + length) / 6)^alpha; alpha 0 disables it."""
  return ((5.0 + jnp.asarray(length, jnp.float32)) / 6.0) ** alpha


def check_sampling(temperature: float, top_k: int, top_p: float):
  """One-line errors for sampling options that filter_logits cannot honour."""
  if temperature <= 0:
    raise ValueError(f"temperature must be positive, got {temperature}; use greedy search "
                     "for temperature 0")
  if not 0.0 < top_p <= 1.0:
    raise ValueError(f"top_p must be in (0, 1], got {top_p}")
  if top_k < 0:
    raise ValueError(f"top_k must be >= 0, got {top_k}")


def filter_logits(logits, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0):
  """Sampling logits: divided by temperature, then top-k, then nucleus (top-p) filtering.

  top_k keeps the k largest logits (0 = all). top_p keeps the smallest set of most likely tokens
  whose probability (after top-k) reaches top_p: a token is kept when the mass of the tokens
  ranked above it is below top_p, so the most likely token always survives. Tokens tied with the
  last kept one are kept too. Dropped tokens get -inf.
  """
  check_sampling(temperature, top_k, top_p)
  logits = logits.astype(jnp.float32) / temperature
  if top_k and top_k < logits.shape[-1]:
    kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
    logits = jnp.where(logits < kth, NEG_INF, logits)
  if top_p < 1.0:
    ordered = jnp.sort(logits, axis=-1)[..., ::-1]
    probs = jax.nn.softmax(ordered, axis=-1)
    mass_above = jnp.cumsum(probs, axis=-1) - probs
    cutoff = jnp.min(jnp.where(mass_above < top_p, ordered, jnp.inf), axis=-1, keepdims=True)
    logits = jnp.where(logits < cutoff, NEG_INF, logits)
  return logits


def _forcing(forced, num_forced, batch: int, length: int):
  """(forced (B, length), num_forced (B,)) with defaults meaning 'nothing forced'."""
  if forced is None:
    return jnp.zeros((batch, length), jnp.int32), jnp.zeros((batch,), jnp.int32)
  if forced.shape != (batch, length):
    raise ValueError(f"forced tokens have shape {forced.shape}, expected {(batch, length)}")
  if num_forced is None:
    raise ValueError("forced tokens need num_forced, the number of forced tokens per row")
  return forced.astype(jnp.int32), jnp.asarray(num_forced, jnp.int32)


def _block(logits, blocked: tuple[int, ...]):
  """logits (..., V) with the blocked tokens at -inf."""
  if not blocked:
    return logits
  return logits.at[..., jnp.asarray(blocked)].set(NEG_INF)


def check_no_repeat(no_repeat_ngram_size: int) -> None:
  if no_repeat_ngram_size < 0:
    raise ValueError(f"no_repeat_ngram_size must be >= 0 (0 = off), got {no_repeat_ngram_size}")


def repeated_ngram_tokens(out, t, n: int, vocab: int):
  """(N, vocab) bool: the tokens that, chosen as output t, would repeat an n-gram of out[:, :t].

  out (N, length) holds each row's outputs 0 .. t-1 (later entries are ignored). An earlier
  n-gram starting at j (j + n - 1 < t) whose first n - 1 tokens equal the last n - 1 outputs
  bans its last token, out[j + n - 1]. Written with static shapes for the search loops:
  O(N * length * n) per step, no host round trip.
  """
  rows, length = out.shape
  if n < 1 or length < n:
    return jnp.zeros((rows, vocab), bool)
  starts = jnp.arange(length - n + 1)
  match = jnp.broadcast_to(starts <= t - n, (rows, length - n + 1))
  if n > 1:
    tail = jax.lax.dynamic_slice_in_dim(out, jnp.maximum(t - n + 1, 0), n - 1, axis=1)
    for k in range(n - 1):
      match = match & (out[:, k:k + length - n + 1] == tail[:, k:k + 1])
  banned = jnp.zeros((rows, vocab), jnp.int32).at[
      jnp.arange(rows)[:, None], out[:, n - 1:]].add(match.astype(jnp.int32))
  return banned > 0


def _no_repeat(logits, out, t, n: int):
  """logits (N, V) with the tokens that would repeat an n-gram of out (N, length) at -inf."""
  if not n:
    return logits
  return jnp.where(repeated_ngram_tokens(out, t, n, logits.shape[-1]), NEG_INF, logits)


def _token_log_prob(logits, tokens):
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return jnp.take_along_axis(log_probs, tokens[:, None], axis=-1)[:, 0]


def _one_token_search(step_fn: StepFn, cache, first, length: int, choose, *, eos_id: int,
                      forced, num_forced, blocked, no_repeat_ngram_size: int) -> Decoded:
  """The loop shared by greedy and sampling: choose(logits, t) picks each row's next token."""
  check_no_repeat(no_repeat_ngram_size)
  batch = first.shape[0]
  forced, num_forced = _forcing(forced, num_forced, batch, length)

  def body(state):
    t, cache, last, out, log_prob, lengths, done = state
    logits, cache = step_fn(last, cache)
    is_forced = t < num_forced
    allowed = _no_repeat(_block(logits, blocked), out, t, no_repeat_ngram_size)
    token = jnp.where(is_forced, forced[:, t], choose(allowed, t))
    token = jnp.where(done, PAD_ID, token)
    live = ~done & ~is_forced
    log_prob = log_prob + jnp.where(live, _token_log_prob(logits, token), 0.0)
    lengths = lengths + live.astype(jnp.int32)
    done = done | (live & (token == eos_id))
    out = jax.lax.dynamic_update_slice_in_dim(out, token[:, None], t, axis=1)
    return t + 1, cache, token, out, log_prob, lengths, done

  def cond(state):
    t, done = state[0], state[-1]
    return (t < length) & ~jnp.all(done)

  state = (jnp.zeros((), jnp.int32), cache, first.astype(jnp.int32),
           jnp.zeros((batch, length), jnp.int32), jnp.zeros((batch,), jnp.float32),
           jnp.zeros((batch,), jnp.int32), jnp.zeros((batch,), bool))
  steps, _, _, out, log_prob, lengths, _ = jax.lax.while_loop(cond, body, state)
  return Decoded(out, log_prob, log_prob, lengths, steps)


def greedy_search(step_fn: StepFn, cache, first, length: int, *, eos_id: int,
                  forced=None, num_forced=None, blocked: tuple[int, ...] = (),
                  no_repeat_ngram_size: int = 0) -> Decoded:
  """The most likely next token at every step, until eos or `length` outputs."""
  return _one_token_search(step_fn, cache, first, length,
                           lambda logits, t: jnp.argmax(logits, axis=-1).astype(jnp.int32),
                           eos_id=eos_id, forced=forced, num_forced=num_forced, blocked=blocked,
                           no_repeat_ngram_size=no_repeat_ngram_size)


def sample_search(step_fn: StepFn, cache, first, length: int, rng, *, eos_id: int,
                  temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                  forced=None, num_forced=None, blocked: tuple[int, ...] = (),
                  no_repeat_ngram_size: int = 0) -> Decoded:
  """Ancestral sampling from filter_logits(logits); step t draws with fold_in(rng, t)."""
  check_sampling(temperature, top_k, top_p)

  def choose(logits, t):
    filtered = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p)
    return jax.random.categorical(jax.random.fold_in(rng, t), filtered, axis=-1).astype(jnp.int32)

  return _one_token_search(step_fn, cache, first, length, choose, eos_id=eos_id,
                           forced=forced, num_forced=num_forced, blocked=blocked,
                           no_repeat_ngram_size=no_repeat_ngram_size)


# ------------------------------------------------------------------------------------------------
# Beam search
# ------------------------------------------------------------------------------------------------

def expand_beams(tree, beam_size: int):
  """Repeats every row of the per-row leaves beam_size times: (B, ...) -> (B * beam_size, ...).

  Rows of one example stay adjacent, so a batch sharded over devices keeps each example's beams on
  the example's device. Scalar leaves are shared and left alone.
  """
  def expand(x):
    if x.ndim == 0:
      return x
    return jnp.repeat(x, beam_size, axis=0)
  return jax.tree.map(expand, tree)


def _take(x, index):
  """x (B, M, ...) indexed per example by index (B, K) -> (B, K, ...)."""
  return jax.vmap(lambda row, i: row[i])(x, index)


def _reorder_cache(cache, index, batch: int, beam_size: int):
  """Per-row cache leaves (B * K, ...) take, for beam k of example b, the row of beam index[b, k]."""
  def reorder(x):
    if x.ndim == 0:
      return x
    rows = x.reshape(batch, beam_size, *x.shape[1:])
    return _take(rows, index).reshape(x.shape)
  return jax.tree.map(reorder, cache)


def _check_cache_rows(cache, batch: int):
  for x in jax.tree.leaves(cache):
    if x.ndim and x.shape[0] != batch:
      raise ValueError(f"cache leaf of shape {x.shape} has a leading axis that is not the batch "
                       f"({batch}); per-row cache leaves must be (batch, ...), shared ones scalars")


class _BeamState(NamedTuple):
  t: jax.Array            # () step
  cache: object           # rows (B * K, ...)
  alive: jax.Array        # (B, K, length) tokens of the unfinished hypotheses
  alive_lp: jax.Array     # (B, K) their log-probabilities, best first; -inf = no hypothesis
  best: jax.Array         # (B, length) the best finished hypothesis so far
  best_score: jax.Array   # (B,) its score; -inf = none yet
  best_lp: jax.Array      # (B,)
  best_len: jax.Array     # (B,)
  stop: jax.Array         # (B,) no unfinished hypothesis can still beat `best`


def beam_search(step_fn: StepFn, cache, first, length: int, *, beam_size: int,
                alpha: float = 0.6, eos_id: int, forced=None, num_forced=None,
                blocked: tuple[int, ...] = (), no_repeat_ngram_size: int = 0) -> Decoded:
  """Beam search returning the best finished hypothesis per example.

  Every step extends each of the beam_size alive hypotheses by every token and ranks the
  candidates by log-probability. As in fairseq and Hugging Face, a candidate that ends (emits eos,
  or reaches `length` outputs) finishes only if it ranks among the top beam_size candidates; the
  best beam_size candidates that do not end stay alive (2 * beam_size candidates are looked at, so
  there are always enough). Finished hypotheses keep their score
  log_prob / length_penalty(generated length, alpha) and the best one is kept. An example stops
  when no alive hypothesis can beat it: log-probabilities only fall and, for alpha >= 0, the
  penalty is largest at the longest length, so alive_lp / length_penalty(max generated length) is
  an upper bound on any of their completions. The loop ends when every example has stopped. With
  beam_size 1 and alpha 0 this is exactly greedy search.

  Args:
    step_fn: see the module docstring; it is called on B * beam_size rows, beams of an example
      adjacent (row b * beam_size + k).
    cache: the cache for B rows (it is expanded to B * beam_size here).
    first: (B,) the token fed at step 0.
    length: number of outputs (steps) at most.
    beam_size, alpha: beam width and length-penalty exponent (alpha >= 0).
    eos_id: the token that ends a hypothesis.
    forced, num_forced: an optional forced prefix per row (see the module docstring).
    blocked: tokens never chosen (see the module docstring).
    no_repeat_ngram_size: no n-gram of this size twice in a hypothesis (0 = off; see the module
      docstring).
  """
  check_no_repeat(no_repeat_ngram_size)
  if beam_size < 1:
    raise ValueError(f"beam_size must be >= 1, got {beam_size}")
  if alpha < 0:
    raise ValueError(f"length penalty alpha must be >= 0, got {alpha}")
  batch, k = first.shape[0], beam_size
  _check_cache_rows(cache, batch)
  forced, num_forced = _forcing(forced, num_forced, batch, length)
  # The longest possible generated length bounds what an alive hypothesis can still score.
  max_penalty = length_penalty(jnp.maximum(length - num_forced, 1), alpha)

  def body(s: _BeamState) -> _BeamState:
    fed = jnp.where(s.t == 0, first[:, None], s.alive[:, :, jnp.maximum(s.t - 1, 0)])
    logits, cache = step_fn(fed.reshape(batch * k), s.cache)
    vocab = logits.shape[-1]
    if 2 * k > k * vocab:
      raise ValueError(f"beam search needs a vocabulary of at least 2 tokens, got {vocab}")
    log_probs = _block(jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1), blocked)
    log_probs = _no_repeat(log_probs, s.alive.reshape(batch * k, length), s.t,
                           no_repeat_ngram_size)
    log_probs = log_probs.reshape(batch, k, vocab)
    is_forced = s.t < num_forced
    forced_row = jnp.where(jnp.arange(vocab) == forced[:, s.t][:, None], 0.0, NEG_INF)
    log_probs = jnp.where(is_forced[:, None, None], forced_row[:, None, :], log_probs)

    # The 2K best (hypothesis, token) candidates, best first.
    candidates = (s.alive_lp[:, :, None] + log_probs).reshape(batch, k * vocab)
    top_lp, top_index = jax.lax.top_k(candidates, 2 * k)
    top_beam, top_token = top_index // vocab, top_index % vocab
    top_seq = _take(s.alive, top_beam)
    top_seq = jax.lax.dynamic_update_slice_in_dim(top_seq, top_token[:, :, None], s.t, axis=2)
    ends = ((top_token == eos_id) | (s.t == length - 1)) & ~is_forced[:, None]

    # Alive: the K best candidates that do not end; the cache follows their beams.
    alive_lp, pick = jax.lax.top_k(jnp.where(ends, NEG_INF, top_lp), k)
    alive = _take(top_seq, pick)
    cache = _reorder_cache(cache, _take(top_beam, pick), batch, k)

    # Finished: ending candidates ranked within the top K; keep the best scoring one.
    generated = s.t + 1 - num_forced
    finish = ends & (jnp.arange(2 * k) < k)[None, :]
    score = jnp.where(finish, top_lp / length_penalty(generated, alpha)[:, None], NEG_INF)
    i = jnp.argmax(score, axis=1)
    new_score = jnp.take_along_axis(score, i[:, None], axis=1)[:, 0]
    better = new_score > s.best_score
    best = jnp.where(better[:, None], _take(top_seq, i[:, None])[:, 0], s.best)
    best_lp = jnp.where(better, jnp.take_along_axis(top_lp, i[:, None], axis=1)[:, 0], s.best_lp)
    best_len = jnp.where(better, generated, s.best_len)
    best_score = jnp.maximum(new_score, s.best_score)

    bound = alive_lp[:, 0] / max_penalty
    stop = ((best_score > NEG_INF) & (best_score >= bound)) | (alive_lp[:, 0] == NEG_INF)
    return _BeamState(s.t + 1, cache, alive, alive_lp, best, best_score, best_lp, best_len, stop)

  def cond(s: _BeamState):
    return (s.t < length) & ~jnp.all(s.stop)

  alive_lp = jnp.full((batch, k), NEG_INF).at[:, 0].set(0.0)
  state = _BeamState(
      t=jnp.zeros((), jnp.int32), cache=expand_beams(cache, k),
      alive=jnp.zeros((batch, k, length), jnp.int32), alive_lp=alive_lp,
      best=jnp.zeros((batch, length), jnp.int32), best_score=jnp.full((batch,), NEG_INF),
      best_lp=jnp.full((batch,), NEG_INF), best_len=jnp.zeros((batch,), jnp.int32),
      stop=jnp.zeros((batch,), bool))
  s = jax.lax.while_loop(cond, body, state)
  # Only an example whose every output was forced has no finished hypothesis: return its prefix.
  none = s.best_score == NEG_INF
  tokens = jnp.where(none[:, None], s.alive[:, 0], s.best)
  log_probs = jnp.where(none, 0.0, s.best_lp)
  scores = jnp.where(none, 0.0, s.best_score)
  lengths = jnp.where(none, 0, s.best_len)
  return Decoded(tokens, scores, log_probs, lengths, s.t)
