"""Tests of synth.eval.search and synth.eval.decoding.

Two kinds of step functions drive the searches:
- hand-made next-token tables indexed by the whole prefix (a trie whose node id lives in the
  cache), whose sequence scores are known exactly, so beam search can be checked against brute
  force and against a case where greedy is suboptimal. The node id is a per-row cache leaf, so
  these also check that beam search reorders the cache with the beams.
- small Transformers (d 32, 2 layers, vocab 20) with random parameters, whose decoded sequences
  are re-scored by the uncached full forward pass.
"""
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from synth.eval.decoding import (DecodeOptions, check_decode_length, generate, make_generate_fn,
                                 token_lists)
from synth.eval.search import (beam_search, filter_logits, greedy_search, length_penalty,
                               repeated_ngram_tokens, sample_search)
from synth.models import ModelConfig, make_model

EOS = 1

# ------------------------------------------------------------------------------------------------
# Prefix tables
# ------------------------------------------------------------------------------------------------


def child(node, token, vocab):
  """Trie node of prefix + token; the root (nothing fed yet) is node 0."""
  return node * vocab + token + 1


def table_step_fn(table):
  """step_fn over a (nodes, V) logit table: the cache {'node': (N,)} is each row's prefix."""
  vocab = table.shape[1]

  def step_fn(tokens, cache):
    node = child(cache["node"], tokens, vocab)
    return table[node], {"node": node}

  return step_fn


def table_from_probs(probs: dict, vocab: int, depth: int, default=None):
  """A log-prob table: probs maps an output prefix (tuple, fed after token 0) to next-token
  probabilities; other prefixes get `default` (uniform if None)."""
  size = vocab ** (depth + 1)  # nodes reachable by feeding the start token and depth - 1 more
  default = np.full(vocab, 1.0 / vocab) if default is None else np.asarray(default)
  table = np.tile(np.log(np.maximum(default, 1e-30)), (size, 1))
  for prefix, p in probs.items():
    node = child(0, 0, vocab)
    for tok in prefix:
      node = child(node, tok, vocab)
    table[node] = np.log(np.maximum(np.asarray(p, float), 1e-30))
  return jnp.asarray(table, jnp.float32)


def run_search(search, table, batch=1, length=4, **kwargs):
  cache = {"node": jnp.zeros((batch,), jnp.int32)}
  first = jnp.zeros((batch,), jnp.int32)
  fn = jax.jit(lambda t: search(table_step_fn(t), cache, first, length, eos_id=EOS, **kwargs))
  return fn(table)


# Greedy takes 'a' (0.6) but then only reaches 0.6 * 0.4; 'b' then eos has 0.4 * 0.9.
A, B = 2, 3
GREEDY_TRAP = {(): [0, 0, 0.6, 0.4], (A,): [0, 0.4, 0.3, 0.3], (B,): [0, 0.9, 0.05, 0.05]}


def test_beam_finds_the_optimum_greedy_misses():
  table = table_from_probs(GREEDY_TRAP, vocab=4, depth=4, default=[0, 1, 0, 0])
  greedy = run_search(greedy_search, table)
  assert greedy.tokens[0, :2].tolist() == [A, EOS]
  np.testing.assert_allclose(greedy.log_probs[0], np.log(0.6 * 0.4), rtol=1e-5)
  best = run_search(beam_search, table, beam_size=2, alpha=0.0)
  assert best.tokens[0].tolist() == [B, EOS, 0, 0]
  np.testing.assert_allclose(best.log_probs[0], np.log(0.4 * 0.9), rtol=1e-5)
  assert int(best.lengths[0]) == 2


def brute_force(table, length, alpha):
  """Best (score, tokens) over every sequence ending in eos or reaching `length` outputs."""
  table = np.asarray(table)
  vocab = table.shape[1]
  best = (-np.inf, None)
  for n in range(1, length + 1):
    for seq in itertools.product(range(vocab), repeat=n):
      if EOS in seq[:-1] or (n < length and seq[-1] != EOS):
        continue
      node, total = child(0, 0, vocab), 0.0
      for tok in seq:
        total += table[node, tok]
        node = child(node, tok, vocab)
      score = total / float(length_penalty(n, alpha))
      if score > best[0]:
        best = (score, seq)
  return best


@pytest.mark.parametrize("alpha", (0.0, 0.6))
def test_wide_beam_equals_brute_force(alpha):
  vocab, length = 4, 4
  rng = np.random.default_rng(int(alpha * 10))
  logits = rng.normal(0, 1.5, (vocab ** (length + 1), vocab))
  logits[:, 0] = -np.inf  # no padding token inside a sequence
  table = jax.nn.log_softmax(jnp.asarray(logits, jnp.float32), axis=-1)
  score, seq = brute_force(table, length, alpha)
  # 24 beams hold every hypothesis of 4 steps over 2 non-eos tokens: the search is exhaustive.
  found = run_search(beam_search, table, length=length, beam_size=24, alpha=alpha)
  assert tuple(found.tokens[0, :len(seq)].tolist()) == seq
  np.testing.assert_allclose(found.scores[0], score, rtol=1e-5)


def test_beam_1_equals_greedy_on_a_table():
  rng = np.random.default_rng(3)
  table = jax.nn.log_softmax(jnp.asarray(rng.normal(0, 2, (4 ** 7, 4)), jnp.float32), axis=-1)
  greedy = run_search(greedy_search, table, batch=1, length=5)
  beam = run_search(beam_search, table, batch=1, length=5, beam_size=1, alpha=0.0)
  assert greedy.tokens.tolist() == beam.tokens.tolist()
  np.testing.assert_allclose(beam.log_probs, greedy.log_probs, rtol=1e-5)


def test_eos_stops_every_row():
  # Row-independent table: after the first output, eos is certain.
  table = table_from_probs({(): [0, 0.1, 0.5, 0.4]}, vocab=4, depth=6, default=[0, 1, 0, 0])
  for search, kwargs in ((greedy_search, {}), (beam_search, dict(beam_size=2, alpha=0.6))):
    out = run_search(search, table, batch=3, length=6, **kwargs)
    assert out.tokens.tolist() == [[A, EOS, 0, 0, 0, 0]] * 3
    assert out.lengths.tolist() == [2, 2, 2]
    assert int(out.steps) == 2  # the loop ended as soon as every row had finished


def test_greedy_pads_finished_rows_while_others_go_on():
  # A forced first token sends row 0 to eos at once while row 1 runs to the length limit.
  table = table_from_probs({(A,): [0, 1, 0, 0], (B,): [0, 0, 0, 1]}, vocab=4, depth=5,
                           default=[0, 0, 0, 1])
  forced = jnp.asarray([[A, 0, 0, 0], [B, 0, 0, 0]])
  out = run_search(greedy_search, table, batch=2, length=4, forced=forced,
                   num_forced=jnp.asarray([1, 1]))
  assert out.tokens.tolist() == [[A, EOS, 0, 0], [B, B, B, B]]
  assert out.lengths.tolist() == [1, 3]  # forced tokens are not generated ones


def test_top_p_keeps_the_smallest_nucleus():
  logits = jnp.log(jnp.asarray([[0.05, 0.5, 0.15, 0.3]]))
  def support(**kwargs):
    return set(np.flatnonzero(np.isfinite(np.asarray(filter_logits(logits, **kwargs)[0]))))
  assert support(top_p=0.4) == {1}
  assert support(top_p=0.7) == {1, 3}
  assert support(top_p=0.8) == {1, 3}          # 0.5 + 0.3 reaches 0.8 exactly
  assert support(top_p=0.81) == {1, 2, 3}
  assert support(top_p=1.0) == {0, 1, 2, 3}
  assert support(top_k=2) == {1, 3}
  assert support(top_k=3, top_p=0.9) == {1, 2, 3}  # nucleus of the renormalised top 3
  with pytest.raises(ValueError, match="top_p"):
    filter_logits(logits, top_p=0.0)


def test_sampling_draws_only_and_all_of_the_nucleus():
  table = table_from_probs({(): [0.05, 0.5, 0.15, 0.3]}, vocab=4, depth=2)
  out = run_search(sample_search, table, batch=512, length=1, rng=jax.random.key(0), top_p=0.7)
  assert set(np.asarray(out.tokens[:, 0]).tolist()) == {1, 3}
  # Log-probabilities are the model's (unfiltered) ones.
  expected = np.log(np.where(np.asarray(out.tokens[:, 0]) == 1, 0.5, 0.3))
  np.testing.assert_allclose(out.log_probs, expected, rtol=1e-5)


def test_sampling_with_top_k_1_equals_greedy_on_a_table():
  rng = np.random.default_rng(4)
  table = jax.nn.log_softmax(jnp.asarray(rng.normal(0, 2, (4 ** 7, 4)), jnp.float32), axis=-1)
  greedy = run_search(greedy_search, table, batch=4, length=5)
  sampled = run_search(sample_search, table, batch=4, length=5, rng=jax.random.key(1), top_k=1,
                       temperature=0.7)
  assert sampled.tokens.tolist() == greedy.tokens.tolist()


# ------------------------------------------------------------------------------------------------
# No repeated n-grams
# ------------------------------------------------------------------------------------------------


def ngrams(tokens, n):
  """The n-grams of a sequence, up to (not including) eos and padding."""
  tokens = [int(t) for t in tokens]
  for end in (EOS, 0):
    tokens = tokens[:tokens.index(end)] if end in tokens else tokens
  return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def repeats(tokens, n):
  grams = ngrams(tokens, n)
  return len(grams) != len(set(grams))


def markov_step_fn(seed, vocab=8):
  """Next-token logits depending only on the last token fed, from a random table, eos (and the
  start/padding token 0) far less likely than the rest: greedy, beam and near-greedy sampling on
  such a chain fall into a cycle, repeating every n-gram."""
  rng = np.random.default_rng(seed)
  table = rng.normal(0, 1, (vocab, vocab)).astype(np.float32)
  table[:, [0, EOS]] = -20.0
  table = jnp.asarray(table)
  return lambda tokens, cache: (table[tokens], cache)


SEARCHES = {
    "greedy": functools.partial(greedy_search),
    "beam": functools.partial(beam_search, beam_size=3, alpha=0.6),
    "sample": lambda *a, **k: sample_search(*a, jax.random.key(3), temperature=0.05, **k),
}


@pytest.mark.parametrize("method", SEARCHES)
@pytest.mark.parametrize("seed", range(3))
def test_no_repeat_ngram_size_forbids_repeats_that_happen_without_it(method, seed):
  step_fn, search = markov_step_fn(seed), SEARCHES[method]
  cache = {"row": jnp.zeros((4,), jnp.int32)}
  first = jnp.asarray([2, 3, 4, 5], jnp.int32)

  def decode(n, length=14):
    return np.asarray(jax.jit(lambda f: search(step_fn, cache, f, length, eos_id=EOS,
                                               no_repeat_ngram_size=n).tokens)(first))

  off = decode(0)
  assert all(repeats(row, 2) and repeats(row, 3) for row in off)
  for n in (2, 3):
    on = decode(n)
    assert not any(repeats(row, n) for row in on), (n, on)
    assert all(len(ngrams(row, 1)) == 14 for row in on)  # still full length: nothing ended
  # Size 1: no token twice; 6 outputs fit in the 6 tokens that are not padding or eos.
  assert not any(repeats(row, 1) for row in decode(1, length=6))


def test_repeated_ngram_tokens_by_hand():
  out = jnp.asarray([[5, 6, 5, 6, 0, 0], [5, 6, 7, 5, 0, 0]], jnp.int32)
  banned = lambda t, n: np.flatnonzero(np.asarray(repeated_ngram_tokens(out, t, n, 9))[0])
  # Row 0 after 5 6 5: the bigram (5, 6) is there, so 6 is banned; after 5 6 5 6, (6, 5) bans 5.
  assert banned(3, 2).tolist() == [6] and banned(4, 2).tolist() == [5]
  assert banned(4, 3).tolist() == [5]  # (5, 6, 5) is there; the last two are 5 6
  assert banned(2, 1).tolist() == [5, 6] and banned(2, 3).tolist() == []
  row1 = np.flatnonzero(np.asarray(repeated_ngram_tokens(out, 4, 2, 9))[1])
  assert row1.tolist() == [6]  # after 5 6 7 5: (5, 6)
  with pytest.raises(ValueError, match="no_repeat_ngram_size must be >= 0"):
    DecodeOptions(no_repeat_ngram_size=-1)


# ------------------------------------------------------------------------------------------------
# Transformers
# ------------------------------------------------------------------------------------------------

TINY = dict(vocab_size=20, d_model=32, num_heads=2, d_ff=64, num_encoder_layers=2,
            num_decoder_layers=2, max_len=16, dropout_rate=0.0)
LENGTH = 12
# Eight left-aligned prompts of lengths 1 to 4 (0 pads).
PROMPTS = jnp.asarray([[5, 0, 0, 0], [6, 7, 0, 0], [8, 9, 10, 0], [11, 12, 13, 14],
                       [2, 3, 4, 5], [15, 16, 0, 0], [17, 0, 0, 0], [18, 19, 3, 0]], jnp.int32)
PROMPT_LENGTHS = np.asarray((PROMPTS != 0).sum(1))
SOURCES = jnp.asarray([[4, 5, 6, 7, 8, 9], [10, 11, 12, 0, 0, 0], [13, 2, 3, 4, 5, 0],
                       [14, 0, 0, 0, 0, 0]], jnp.int32)


def tiny_config(kind, variant, **overrides):
  return ModelConfig(**{**TINY, "kind": kind, "variant": variant, **overrides})


@functools.cache
def _random_split(cfg: ModelConfig):
  abstract = nnx.eval_shape(lambda: make_model(cfg, rngs=nnx.Rngs(0)))
  graphdef, state = nnx.split(abstract)
  rng = np.random.default_rng(0)
  state = jax.tree.map(lambda x: jnp.asarray(rng.normal(0, 0.3, x.shape).astype(x.dtype)), state)
  return graphdef, state


def random_model(cfg):
  """A model with N(0, 0.3^2) parameters (numpy, not the initialisers: faster to build)."""
  return nnx.merge(*_random_split(cfg))


@nnx.jit
def forward(model, *args, **kwargs):
  """The full (uncached) forward pass, jitted: one compile instead of one per operation."""
  return model(*args, **kwargs)


def lm_log_probs(model, tokens, prompt_lengths, lengths):
  """Uncached log-probability of each row's generated tokens under the full forward pass."""
  log_probs = jax.nn.log_softmax(forward(model, tokens), axis=-1)[:, :-1]
  token_lp = np.asarray(jnp.take_along_axis(log_probs, tokens[:, 1:, None], -1)[..., 0])
  return np.asarray([token_lp[b, p - 1:p - 1 + n].sum()
                     for b, (p, n) in enumerate(zip(prompt_lengths, lengths))])


def check_lm_result(model, out):
  tokens = np.asarray(out.tokens)
  assert tokens.shape == (len(PROMPTS), LENGTH)
  for row, prompt, p, n in zip(tokens, np.asarray(PROMPTS), PROMPT_LENGTHS, out.lengths):
    assert row[:p].tolist() == prompt[:p].tolist()  # the prompt is kept
    generated = row[p:p + int(n)]
    assert EOS not in generated[:-1] and (generated[-1] == EOS or p + n == LENGTH)
    assert not row[p + int(n):].any()  # padding after the end
  expected = lm_log_probs(model, out.tokens, PROMPT_LENGTHS, np.asarray(out.lengths))
  np.testing.assert_allclose(out.log_probs, expected, atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("variant", ("vanilla", "random", "dense+vanilla"))
def test_lm_beam_scores_equal_uncached_log_probs(variant):
  model = random_model(tiny_config("decoder", variant))
  out = generate(model, PROMPTS, DecodeOptions(method="beam", beam_size=3, alpha=0.6,
                                               max_length=LENGTH))
  check_lm_result(model, out)
  np.testing.assert_allclose(out.scores, out.log_probs / length_penalty(out.lengths, 0.6),
                             rtol=1e-5)
  assert np.asarray(out.lengths).min() >= 1


def test_lm_greedy_and_top_k_1_sampling_agree():
  # (beam_size 1 = greedy is checked on a table above: the search code is the same.)
  model = random_model(tiny_config("decoder", "random"))
  greedy = generate(model, PROMPTS, DecodeOptions(method="greedy", max_length=LENGTH))
  check_lm_result(model, greedy)
  sampled = generate(model, PROMPTS, DecodeOptions(method="sample", top_k=1, max_length=LENGTH),
                     rng=jax.random.key(7))
  assert sampled.tokens.tolist() == greedy.tokens.tolist()
  np.testing.assert_allclose(sampled.log_probs, greedy.log_probs, atol=1e-5)


def test_lm_beam_search_is_batch_shardable():
  model = random_model(tiny_config("decoder", "vanilla"))
  options = DecodeOptions(method="beam", beam_size=3, alpha=0.6, max_length=LENGTH)
  mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
  sharding = NamedSharding(mesh, PartitionSpec("data"))
  sharded = generate(model, jax.device_put(PROMPTS, sharding), options, batch_sharding=sharding)
  plain = generate(model, PROMPTS, options)
  assert sharded.tokens.sharding.is_equivalent_to(sharding, 2)
  assert sharded.tokens.tolist() == plain.tokens.tolist()
  np.testing.assert_allclose(sharded.scores, plain.scores, atol=1e-5)
  with pytest.raises(ValueError, match="divide evenly"):
    generate(model, PROMPTS[:4], options, batch_sharding=sharding)


@pytest.mark.parametrize("variant", ("random",))
def test_encoder_decoder_beam_scores_equal_uncached_log_probs(variant):
  model = random_model(tiny_config("encoder_decoder", variant))
  out = generate(model, SOURCES, DecodeOptions(method="beam", beam_size=3, max_length=LENGTH))
  tokens = out.tokens
  targets_in = jnp.concatenate([jnp.zeros_like(tokens[:, :1]), tokens[:, :-1]], axis=1)
  # Segment ids keep the start token (id 0) a visible key, as it is in cached decoding; with
  # segment ids, length-bound variants take the positions too.
  logits = forward(model, SOURCES, targets_in, inputs_segment_ids=(SOURCES != 0).astype(jnp.int32),
                   targets_segment_ids=jnp.ones_like(targets_in),
                   inputs_positions=jnp.broadcast_to(jnp.arange(SOURCES.shape[1]), SOURCES.shape),
                   targets_positions=jnp.broadcast_to(jnp.arange(targets_in.shape[1]),
                                                     targets_in.shape))
  token_lp = jnp.take_along_axis(jax.nn.log_softmax(logits), tokens[..., None], -1)[..., 0]
  lengths = np.asarray(out.lengths)
  expected = [float(token_lp[b, :n].sum()) for b, n in enumerate(lengths)]
  np.testing.assert_allclose(out.log_probs, expected, atol=2e-4, rtol=1e-4)
  for row, n in zip(np.asarray(tokens), lengths):
    assert row[n - 1] == EOS or n == LENGTH
    assert not row[n:].any()


@pytest.mark.parametrize("method", ("greedy", "beam"))
def test_encoder_decoder_no_repeat_ngram_size_through_decode_options(method):
  model = random_model(tiny_config("encoder_decoder", "vanilla"))
  options = functools.partial(DecodeOptions, method=method, beam_size=3, max_length=LENGTH)
  repeating = token_lists(generate(model, SOURCES, options(no_repeat_ngram_size=0)).tokens)
  assert any(repeats(row, 2) for row in repeating)  # this random model loops
  for row in token_lists(generate(model, SOURCES, options(no_repeat_ngram_size=2)).tokens):
    assert not repeats(row, 2)


def test_decoding_past_max_len_is_a_clear_error():
  cfg = tiny_config("decoder", "random")
  merge = lambda state: None  # never reached
  with pytest.raises(ValueError, match=r"variant 'random'.*17.*max_len=16|17.*'random'.*max_len=16"):
    make_generate_fn(cfg, DecodeOptions(max_length=17), merge)
  with pytest.raises(ValueError, match="max_len=16"):
    generate(random_model(cfg), PROMPTS, DecodeOptions(max_length=40))
  make_generate_fn(cfg, DecodeOptions(max_length=16), merge)  # exactly max_len is fine
  # Vanilla attention with sinusoidal positions has no length limit.
  make_generate_fn(tiny_config("decoder", "vanilla"), DecodeOptions(max_length=64), merge)
  with pytest.raises(ValueError, match="learned position"):
    check_decode_length(tiny_config("decoder", "vanilla", positions="learned"), 17)
  with pytest.raises(ValueError, match="encode 20 positions"):
    generate(random_model(tiny_config("encoder_decoder", "dense")),
             jnp.ones((2, 20), jnp.int32), DecodeOptions(max_length=8))
  with pytest.raises(ValueError, match="kind 'encoder_classifier'"):
    make_generate_fn(tiny_config("encoder_classifier", "vanilla"), DecodeOptions(), merge)


@pytest.mark.parametrize("kind", ("decoder", "encoder_decoder"))
def test_model_decoding_past_its_cache_is_a_clear_error(kind):
  """A hand-written decoding loop that runs past init_cache's length raises at the first step
  that does not fit, instead of overwriting the last cache slot (generate sizes its cache to
  its loop, so it never gets there)."""
  model = random_model(tiny_config(kind, "random"))
  model.init_cache(2, 4)
  token = jnp.ones((2, 1), jnp.int32)
  if kind == "decoder":
    step = lambda: model(token, decode=True)
  else:
    memory = model.encode(SOURCES[:2])
    step = lambda: model.decode(token, memory, SOURCES[:2] != 0, decode=True)
  for _ in range(4):
    assert np.all(np.isfinite(np.asarray(step())))
  with pytest.raises(ValueError, match=r"decoding step 5 .*cache of 4"):
    step()


def test_token_lists_cut_prompt_eos_and_padding():
  tokens = np.asarray([[5, 6, 7, 1, 0], [5, 8, 9, 9, 9]])
  assert token_lists(tokens) == [[5, 6, 7], [5, 8, 9, 9, 9]]
  assert token_lists(tokens, start=[2, 1]) == [[7], [8, 9, 9, 9]]
