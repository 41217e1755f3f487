"""Property tests of synth.attention: what each alignment function may depend on, masks, packing,
incremental decoding and the decoding cache (docs/math.md has the math; its Traps section lists
the mistakes these tests rule out).

Every property is checked against a contrast where the property must NOT hold, so a test that
compares a thing with itself cannot pass by accident. Parameters are perturbed away from their
initialisation (zero biases, uniform mixture weights) so that wrong broadcasts and wrong
head/position orders show up in the numbers.
"""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from synth.attention import VARIANTS, WEIGHTINGS, is_length_bound, make_attention, parse_variant
from synth.params import FrozenParam

D, H, N = 32, 4, 16  # d_model, heads, max_len
MIXTURES = ("random+vanilla", "dense+vanilla", "random+dense")
ALL = VARIANTS + MIXTURES
# (variant, weighting): every single variant once, every mixture with every weighting.
CASES = [(v, "softmax") for v in VARIANTS] + [(m, w) for m in MIXTURES for w in WEIGHTINGS]
CASE_IDS = [v if v in VARIANTS else f"{v}-{w}" for v, w in CASES]
PURE = tuple(v for v in ALL if "vanilla" not in parse_variant(v))


def build(variant, *, causal=False, mixture="softmax", seed=0, **kw):
  """A small attention layer with every parameter perturbed away from its initial value."""
  model = make_attention(variant, d_model=D, num_heads=H, max_len=N, rngs=nnx.Rngs(seed),
                         causal=causal, mixture=mixture, **kw)
  state = nnx.state(model, nnx.Any(nnx.Param, FrozenParam))
  rng = np.random.default_rng(1000 + seed)  # numpy: no per-shape XLA compiles in the tests

  def shake(path, leaf):
    # Mixture logits get unit noise so alphas differ clearly per head; the rest a small shake.
    scale = 1.0 if "mixture" in jax.tree_util.keystr(path) else 0.2
    return jnp.asarray(np.asarray(leaf) + scale * rng.standard_normal(leaf.shape), leaf.dtype)

  nnx.update(model, jax.tree_util.tree_map_with_path(shake, state))
  return model


def inputs(seed, batch, n):
  return jnp.asarray(np.random.default_rng(seed).standard_normal((batch, n, D)), jnp.float32)


def close(a, b, atol=1e-5):
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=1e-5)


def max_diff(a, b):
  return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# ---------------------------------------------------------------------------------------------
# What the alignment depends on.
# ---------------------------------------------------------------------------------------------

def _own_token_batch(n):
  """x (1, n, D) and a batch whose example i is a different input except for token i of x."""
  x, other = inputs(0, 1, n), inputs(1, 1, n)
  batch = jnp.where(jnp.eye(n, dtype=bool)[:, :, None], x, other)  # (n, n, D)
  return x, batch


def _own_rows(model, x, batch, n):
  """Row i of the weights for x, and row i of the weights of example i of batch, both (n, H, n)."""
  _, w_x = model(x, return_weights=True)
  _, w_b = model(batch, return_weights=True)
  idx = jnp.arange(n)
  return w_x[0].transpose(1, 0, 2), w_b[idx, :, idx, :]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("variant", ["dense", "factorized_dense", "random+dense"])
def test_dense_row_depends_on_its_own_token_only(variant, causal):
  n = 10
  model = build(variant, causal=causal)
  x, batch = _own_token_batch(n)
  base, rows = _own_rows(model, x, batch, n)
  close(rows, base, atol=1e-6)
  # The logits too, component by component: row i of example i equals row i for x.
  for name, comp in model.components.items():
    lx, lb = comp(x), comp(batch)
    lx = jnp.broadcast_to(lx, (1, *lx.shape[1:]))[0].transpose(1, 0, 2)
    lb = jnp.broadcast_to(lb, (n, *lb.shape[1:]))[jnp.arange(n), :, jnp.arange(n), :]
    close(lb, lx, atol=1e-6)
  # ... while the outputs do change (values still mix tokens), so the batch really differs.
  assert max_diff(model(batch)[0], model(x)[0]) > 1e-3


@pytest.mark.parametrize("variant", ["vanilla", "dense+vanilla", "random+vanilla"])
def test_dot_product_row_depends_on_other_tokens(variant):
  """Contrast for the test above: with dot products every row changes with the other tokens."""
  n = 10
  model = build(variant)
  x, batch = _own_token_batch(n)
  base, rows = _own_rows(model, x, batch, n)
  per_row = np.abs(np.asarray(rows - base)).max(axis=(1, 2))
  assert np.all(per_row > 1e-4), per_row


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("variant", ["random", "fixed_random", "factorized_random"])
def test_random_weights_ignore_the_input(variant, causal):
  n = 10
  model = build(variant, causal=causal)
  x, x2 = inputs(0, 2, n), inputs(1, 2, n)
  y, w = model(x, return_weights=True)
  _, w2 = model(x2, return_weights=True)
  assert w.shape == (2, H, n, n)
  np.testing.assert_array_equal(w[1], w[0])
  for b in range(2):
    np.testing.assert_array_equal(w2[b], w[0])
  assert max_diff(y[1], y[0]) > 1e-3  # the outputs still depend on the input (values)
  # Contrast: dense weights differ between examples.
  _, wd = build("dense", causal=causal)(x, return_weights=True)
  assert max_diff(wd[1], wd[0]) > 1e-3


def _hand_hidden(comp, x):
  """relu(x W_1^h + b_1^h) of a dense component, in float64 numpy: (B, n, H, d_h)."""
  x = np.asarray(x, np.float64)
  w1 = np.asarray(comp.hidden.kernel[...], np.float64)
  b1 = np.asarray(comp.hidden.bias[...], np.float64)
  return np.maximum(np.einsum("bnd,dhk->bnhk", x, w1) + b1, 0.0)


def test_component_logits_match_hand_computation():
  """Each component's logits against its formula in docs/math.md (Vanilla, Dense, Random,
  Factorized Random), with heads not scrambled."""
  n = 10
  x = inputs(3, 2, n)
  model = build("vanilla+dense+random+factorized_random")
  # Dense: B_h[i, j] = (W_2^h relu(W_1^h x_i + b_1^h) + b_2^h)[j].
  dense = model.components["dense"]
  w2 = np.asarray(dense.kernel[...], np.float64)
  b2 = np.asarray(dense.bias[...], np.float64)
  expected = np.einsum("bnhk,hkm->bhnm", _hand_hidden(dense, x), w2) + b2[None, :, None, :]
  close(dense(x), expected[..., :n])
  # Random: B_h[i, j] = R_h[i, j].
  r = np.asarray(model.components["random"].matrix[...])
  close(jnp.broadcast_to(model.components["random"](x), (2, H, n, n)),
        np.broadcast_to(r[None, :, :n, :n], (2, H, n, n)), atol=0)
  # Factorized random: R1_h R2_h^T.
  fr = model.components["factorized_random"]
  left, right = np.asarray(fr.left[...]), np.asarray(fr.right[...])
  assert right.shape == (left.shape[0], left.shape[2], left.shape[1])  # R2 stored as R2^T
  close(fr(x)[0], np.einsum("hik,hjk->hij", left, right.transpose(0, 2, 1))[:, :n, :n])
  # Vanilla: (x_i W_Q^h)(x_j W_K^h) / sqrt(d_h).
  van = model.components["vanilla"]
  q = np.einsum("bnd,dhk->bnhk", np.asarray(x), np.asarray(van.query.kernel[...]))
  k = np.einsum("bnd,dhk->bnhk", np.asarray(x), np.asarray(van.key.kernel[...]))
  close(van(x), np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(D // H))


# ---------------------------------------------------------------------------------------------
# Masks: causality, padding, packed rows.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant,mixture", CASES, ids=CASE_IDS)
def test_causal_output_ignores_future_tokens(variant, mixture):
  n = 10
  model = build(variant, causal=True, mixture=mixture)
  x, other = inputs(0, 1, n), inputs(1, 1, n)
  keep = jnp.arange(n)[None, :] <= jnp.arange(n)[:, None]  # example i keeps tokens 0..i of x
  batch = jnp.where(keep[:, :, None], x, other)
  y_x, w_x = model(x, return_weights=True)
  y_b, w_b = model(batch, return_weights=True)
  for i in range(n):
    close(y_b[i, :i + 1], y_x[0, :i + 1])
  above = ~np.tril(np.ones((n, n), bool))
  assert np.all(np.asarray(w_x)[..., above] == 0.0)
  assert np.all(np.asarray(w_b)[..., above] == 0.0)
  # Contrast: without causal masking the future leaks into earlier positions.
  acausal = build(variant, causal=False, mixture=mixture)
  y_x2, w_x2 = acausal(x, return_weights=True)
  assert np.all(np.asarray(w_x2)[..., above] > 0.0)
  assert max_diff(acausal(batch)[0, 0], y_x2[0, 0]) > 1e-4


@pytest.mark.parametrize("causal", [False, True], ids=["bidir", "causal"])
@pytest.mark.parametrize("variant", ALL)
def test_padding_keys_get_zero_weight(variant, causal):
  n, lengths = 10, (6, 4)
  model = build(variant, causal=causal)
  x = inputs(0, 2, n)  # the padding slots hold arbitrary (random) vectors
  mask = jnp.arange(n)[None, :] < jnp.asarray(lengths)[:, None]
  y, w = model(x, mask=mask, return_weights=True)
  for b, length in enumerate(lengths):
    assert np.all(np.asarray(w[b, :, :, length:]) == 0.0), (b, length)
    y_alone, w_alone = model(x[b:b + 1, :length], return_weights=True)
    close(y[b, :length], y_alone[0])
    close(w[b, :, :length, :length], w_alone[0])
  np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=1e-5)
  if not causal:  # Contrast: unmasked, the padding changes the real positions.
    assert max_diff(model(x)[1, :4], y[1, :4]) > 1e-4


# Two rows, each packing two examples (lengths as in the padding test, to share compiled shapes).
PACKS = ((6, 4), (4, 6))


@pytest.mark.parametrize("causal", [False, True], ids=["bidir", "causal"])
@pytest.mark.parametrize("variant", ALL)
def test_packed_rows_match_examples_run_alone(variant, causal):
  model = build(variant, causal=causal)
  examples = [[inputs(10 * r + e, 1, length) for e, length in enumerate(row)]
              for r, row in enumerate(PACKS)]
  x = jnp.concatenate([jnp.concatenate(row, axis=1) for row in examples], axis=0)
  segment_ids = jnp.asarray([sum(([e + 1] * length for e, length in enumerate(row)), [])
                             for row in PACKS])
  positions = jnp.asarray([np.concatenate([np.arange(length) for length in row])
                           for row in PACKS])
  y, w = model(x, positions=positions, segment_ids=segment_ids, return_weights=True)
  slots = jnp.broadcast_to(jnp.arange(x.shape[1]), positions.shape)
  y_slots = model(x, positions=slots, segment_ids=segment_ids)
  for r, row in enumerate(PACKS):
    start = 0
    for e, length in enumerate(row):
      sl = slice(start, start + length)
      y_alone, w_alone = model(examples[r][e], return_weights=True)
      close(y[r, sl], y_alone[0])
      close(w[r, :, sl, sl], w_alone[0])
      other = np.ones(x.shape[1], bool)
      other[sl] = False
      assert np.all(np.asarray(w[r, :, sl][..., other]) == 0.0)  # no attention across examples
      if e == 1 and is_length_bound(variant):
        # Contrast: indexing synthetic logits by slot instead of position is wrong here.
        assert max_diff(y_slots[r, sl], y_alone[0]) > 1e-4
      start += length


@pytest.mark.parametrize("variant", ALL)
def test_packed_rows_without_positions_are_an_error_for_length_bound_variants(variant):
  """Segment ids without positions would index synthetic logits by slot: wrong for every example
  after a row's first, and silently so. Dot products need no positions."""
  model = build(variant)
  x = inputs(0, 2, 10)
  segment_ids = jnp.asarray([[1] * 6 + [2] * 4, [1] * 4 + [2] * 6])
  if is_length_bound(variant):
    with pytest.raises(ValueError, match=rf"'{re.escape(variant)}'.*segment_ids.*pass positions"):
      model(x, segment_ids=segment_ids)
  else:
    model(x, segment_ids=segment_ids)


# ---------------------------------------------------------------------------------------------
# Incremental decoding and its cache.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant,mixture", CASES, ids=CASE_IDS)
def test_cached_decoding_matches_full_causal_pass(variant, mixture):
  n, batch, cache_len = 10, 2, N
  model = build(variant, causal=True, mixture=mixture)
  x = inputs(0, batch, n)
  y_full, w_full = model(x, return_weights=True)
  model.init_cache(batch, cache_len)
  for t in range(n):
    y_t, w_t = model(x[:, t:t + 1], decode=True, return_weights=True)
    assert y_t.shape == (batch, 1, D) and w_t.shape == (batch, H, 1, cache_len)
    close(y_t[:, 0], y_full[:, t])
    close(w_t[:, :, 0, :n], w_full[:, :, t])
    assert np.all(np.asarray(w_t[..., t + 1:]) == 0.0)  # empty cache slots get no weight
  assert int(model.cache_index[...]) == n


def test_cached_decoding_under_nnx_jit():
  """The cache is mutable module state: it must survive nnx.jit'ed steps."""
  n = 10
  model = build("random+vanilla", causal=True)
  x = inputs(0, 2, n)
  y_full = model(x)
  model.init_cache(2, N)
  step = nnx.jit(lambda m, tok: m(tok, decode=True))
  ys = [step(model, x[:, t:t + 1]) for t in range(n)]
  close(jnp.concatenate(ys, axis=1), y_full)


@pytest.mark.parametrize("variant", ("random", "vanilla", "dense+vanilla"))
def test_decoding_past_the_cache_is_an_error(variant):
  """The cache's dynamic slices clamp: step 5 of a 4-slot cache would overwrite slot 3 and
  attend as if at position 3, plausible numbers with no error."""
  model = build(variant, causal=True)
  x = inputs(0, 2, 6)
  model.init_cache(2, 4)
  for t in range(4):  # exactly the cache length is fine
    assert np.all(np.isfinite(np.asarray(model(x[:, t:t + 1], decode=True))))
  with pytest.raises(ValueError, match=r"decoding step 5 .*cache of 4 .*init_cache"):
    model(x[:, 4:5], decode=True)


def test_decoding_past_the_cache_under_jit_is_nan_or_a_checkify_error():
  """Under jit the cache index is traced and cannot raise: the step's outputs are NaN instead,
  and under jax.experimental.checkify the overrun is a clear error."""
  from jax.experimental import checkify
  model = build("random+vanilla", causal=True)
  x = inputs(0, 2, 6)
  model.init_cache(2, 4)
  graphdef, params, cache = nnx.split(model, nnx.Not(nnx.Cache), nnx.Cache)

  @jax.jit
  def step(cache, token):
    layer = nnx.merge(graphdef, params, cache)
    return layer(token, decode=True), nnx.state(layer, nnx.Cache)

  outputs = []
  for t in range(6):
    y, cache = step(cache, x[:, t:t + 1])
    outputs.append(np.asarray(y))
  assert all(np.all(np.isfinite(y)) for y in outputs[:4])
  assert all(np.all(np.isnan(y)) for y in outputs[4:])
  checked = jax.jit(checkify.checkify(step))
  error, _ = checked(cache, x[:, :1])  # the cache index is 6 by now
  with pytest.raises(checkify.JaxRuntimeError, match="past the end of the decoding cache"):
    error.throw()


def _cache_entries(model):
  state = nnx.state(model, nnx.Cache)
  return {jax.tree_util.keystr(p): leaf for p, leaf in jax.tree_util.tree_leaves_with_path(state)}


def _cache_bytes(variant):
  model = build(variant, causal=True)
  model.init_cache(2, N)
  return sum(leaf.nbytes for leaf in _cache_entries(model).values())


@pytest.mark.parametrize("variant", ALL)
def test_synthesizer_cache_holds_values_only(variant):
  model = build(variant, causal=True)
  model.init_cache(2, N)
  names = list(_cache_entries(model))
  has_key = any("cached_key" in name for name in names)
  assert any("cached_value" in name for name in names)
  assert has_key == ("vanilla" in parse_variant(variant)), names


def test_synthesizer_cache_is_half_of_vanilla():
  vanilla = _cache_bytes("vanilla")
  for variant in PURE:
    assert _cache_bytes(variant) == pytest.approx(vanilla / 2, rel=1e-3), variant
  for variant in ("random+vanilla", "dense+vanilla"):
    assert _cache_bytes(variant) == vanilla, variant
