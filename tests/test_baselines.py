"""Tests of the paper's baselines: lightweight and dynamic convolutions (Wu et al. 2019), Linformer
(Wang et al. 2020) and T5's relative position bias, as layers and inside the three models.

Each property is checked against a contrast where it must NOT hold (centred vs causal kernels,
masked vs unmasked padding, positions vs slots), so that a test cannot pass by comparing a thing
with itself. Parameters are perturbed from numpy so that zero biases and uniform kernels do not
hide wrong tap orders, heads or buckets.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from synth.attention import (TOKEN_MIXERS, RelativePositionBias, make_attention, parse_variant,
                             relative_position_bucket)
from synth.models import ModelConfig, make_model
from synth.params import LOGICAL_AXES, FrozenParam, count_params, logical_axes

D, H, N, K = 32, 4, 16, 3  # d_model, heads, max_len, conv kernel size
CONVS = ("lightweight_conv", "dynamic_conv")
RELATIVE = ("vanilla", "random+vanilla")  # logit variants run with relative_bias=True


def build(variant, *, causal=False, relative_bias=None, seed=0, **kw):
  """A small layer with every parameter perturbed away from its initial value."""
  model = make_attention(variant, d_model=D, num_heads=H, max_len=N, rngs=nnx.Rngs(seed),
                         causal=causal, relative_bias=relative_bias, kernel_size=K,
                         linformer_k=8, **kw)
  state = nnx.state(model, nnx.Any(nnx.Param, FrozenParam))
  rng = np.random.default_rng(1000 + seed)
  nnx.update(model, jax.tree.map(
      lambda v: jnp.asarray(np.asarray(v) + 0.3 * rng.standard_normal(v.shape), v.dtype), state))
  return model


def inputs(seed, batch, n):
  return jnp.asarray(np.random.default_rng(seed).standard_normal((batch, n, D)), jnp.float32)


def close(a, b, atol=1e-5):
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=1e-5)


def max_diff(a, b):
  return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# Layer cases: (variant, causal, relative_bias) for every layer-level property.
CAUSAL_CASES = [(v, True, None) for v in CONVS] + [(v, True, True) for v in RELATIVE]
BIDIR_CASES = ([(v, False, None) for v in CONVS + ("linformer",)]
               + [(v, False, True) for v in RELATIVE])


def case_id(case):
  variant, causal, rel = case
  return f"{variant}{'+rel' if rel else ''}-{'causal' if causal else 'bidir'}"


# ---------------------------------------------------------------------------------------------
# Convolutions: the formula, causality, receptive field.
# ---------------------------------------------------------------------------------------------

def conv_reference(model, x):
  """Wu et al.'s block in float64 numpy with explicit loops over steps and taps."""
  x = np.asarray(x, np.float64)
  p = lambda v: np.asarray(v[...], np.float64)  # noqa: E731
  proj = lambda m: np.einsum("bnd,dhk->bnhk", x, p(m.kernel)) + p(m.bias)  # noqa: E731
  u = proj(model.glu_value) / (1.0 + np.exp(-proj(model.glu_gate)))
  batch, n, heads, _ = u.shape
  softmax = lambda z: np.exp(z - z.max(-1, keepdims=True)) / np.exp(  # noqa: E731
      z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)
  offset = K - 1 if model.causal else (K - 1) // 2
  y = np.zeros_like(u)
  for b in range(batch):
    for t in range(n):
      if model.variant == "dynamic_conv":
        w = softmax(np.einsum("d,dhk->hk", u[b, t].reshape(-1), p(model.kernel)))
      else:
        w = softmax(p(model.kernel))
      for j in range(K):
        s = t - offset + j
        if 0 <= s < n:
          y[b, t] += w[:, j, None] * u[b, s]
  return np.einsum("bnhk,hkd->bnd", y, p(model.out.kernel))


@pytest.mark.parametrize("causal", [False, True], ids=["centred", "causal"])
@pytest.mark.parametrize("variant", CONVS)
def test_conv_matches_hand_computation(variant, causal):
  model = build(variant, causal=causal)
  x = inputs(0, 2, 7)
  close(model(x), conv_reference(model, x), atol=1e-4)


@pytest.mark.parametrize("variant", CONVS)
def test_conv_receptive_field(variant):
  """Causal: output t sees tokens t-K+1..t; centred: t-(K-1)//2..t+K//2 (K = 3: t-1..t+1)."""
  n, t = 8, 4
  x = inputs(0, 1, n)
  for causal, seen in ((True, range(t - K + 1, t + 1)), (False, range(t - 1, t + 2))):
    model = build(variant, causal=causal)
    base = model(x)[0, t]
    for s in range(n):
      changed = model(x.at[0, s].set(inputs(1, 1, 1)[0, 0]))[0, t]
      assert (max_diff(changed, base) > 1e-4) == (s in seen), (causal, s)


# ---------------------------------------------------------------------------------------------
# Masks: causality, padding, packed rows.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CAUSAL_CASES, ids=case_id)
def test_causal_output_ignores_future_tokens(case):
  variant, _, rel = case
  n = 8
  x, other = inputs(0, 1, n), inputs(1, 1, n)
  keep = jnp.arange(n)[None, :] <= jnp.arange(n)[:, None]  # example i keeps tokens 0..i of x
  batch = jnp.where(keep[:, :, None], x, other)
  model = build(variant, causal=True, relative_bias=rel)
  y_x, y_b = model(x), model(batch)
  for i in range(n):
    close(y_b[i, :i + 1], y_x[0, :i + 1])
  # Contrast: the bidirectional layer lets the future into position 0.
  acausal = build(variant, causal=False, relative_bias=rel)
  assert max_diff(acausal(batch)[0, 0], acausal(x)[0, 0]) > 1e-4


@pytest.mark.parametrize("case", CAUSAL_CASES + BIDIR_CASES, ids=case_id)
def test_padding_does_not_leak_into_real_outputs(case):
  variant, causal, rel = case
  n, lengths = 8, (5, 3)
  model = build(variant, causal=causal, relative_bias=rel)
  x = inputs(0, 2, n)  # the padding slots hold arbitrary vectors
  mask = jnp.arange(n)[None, :] < jnp.asarray(lengths)[:, None]
  y = model(x, mask=mask)
  for b, length in enumerate(lengths):
    close(y[b, :length], model(x[b:b + 1, :length])[0])
  if not causal:  # Contrast: unmasked, the padding reaches the last real token.
    assert max_diff(model(x)[1, 2], y[1, 2]) > 1e-4


PACKS = ((5, 3), (3, 5))  # two rows, each packing two examples


@pytest.mark.parametrize("case", CAUSAL_CASES + BIDIR_CASES, ids=case_id)
def test_packed_rows_match_examples_run_alone(case):
  variant, causal, rel = case
  model = build(variant, causal=causal, relative_bias=rel)
  examples = [[inputs(10 * r + e, 1, length) for e, length in enumerate(row)]
              for r, row in enumerate(PACKS)]
  x = jnp.concatenate([jnp.concatenate(row, axis=1) for row in examples], axis=0)
  segment_ids = jnp.asarray([sum(([e + 1] * length for e, length in enumerate(row)), [])
                             for row in PACKS])
  positions = jnp.asarray([np.concatenate([np.arange(length) for length in row])
                           for row in PACKS])
  y = model(x, positions=positions, segment_ids=segment_ids)
  slots = jnp.broadcast_to(jnp.arange(x.shape[1]), positions.shape)
  y_slots = model(x, positions=slots, segment_ids=segment_ids)  # slots stand in for positions
  for r, row in enumerate(PACKS):
    start = 0
    for e, length in enumerate(row):
      alone = model(examples[r][e])[0]
      close(y[r, start:start + length], alone)
      if e == 1 and (variant == "linformer" or "random" in variant):
        # Contrast: Linformer's E rows and R's entries are by position, not slot (relative
        # distances are the same in both) ...
        assert max_diff(y_slots[r, start:start + length], alone) > 1e-4
      start += length
  if variant in CONVS:  # ... while a convolution crossing the boundary would mix examples.
    assert max_diff(model(x)[0, 5], y[0, 5]) > 1e-4


# ---------------------------------------------------------------------------------------------
# Incremental decoding.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CAUSAL_CASES, ids=case_id)
def test_cached_decoding_matches_full_causal_pass(case):
  variant, _, rel = case
  n, batch = 8, 2
  model = build(variant, causal=True, relative_bias=rel)
  x = inputs(0, batch, n)
  y_full = model(x)
  model.init_cache(batch, N)
  steps = [model(x[:, t:t + 1], decode=True) for t in range(n)]
  close(jnp.concatenate(steps, axis=1), y_full)
  assert int(model.cache_index[...]) == n


def test_conv_cache_holds_the_last_k_minus_1_inputs_only():
  model = build("dynamic_conv", causal=True)
  model.init_cache(2, N)
  cache = jax.tree.leaves(nnx.state(model, nnx.Cache))
  assert sorted(c.shape for c in cache) == [(), (2, K - 1, H, D // H)]


def test_conv_decoding_under_nnx_jit():
  model = build("dynamic_conv", causal=True)
  x = inputs(0, 2, 8)
  y_full = model(x)
  model.init_cache(2, N)
  step = nnx.jit(lambda m, tok: m(tok, decode=True))
  close(jnp.concatenate([step(model, x[:, t:t + 1]) for t in range(8)], axis=1), y_full)


# ---------------------------------------------------------------------------------------------
# Linformer.
# ---------------------------------------------------------------------------------------------

def test_linformer_matches_hand_computation():
  model = build("linformer")
  x = inputs(0, 2, 7)
  p = lambda v: np.asarray(v[...], np.float64)  # noqa: E731
  q, k, v = (np.einsum("bnd,dhk->bnhk", np.asarray(x, np.float64), p(m.kernel))
             for m in (model.query, model.key, model.value))
  e, f = p(model.key_projection)[:7], p(model.value_projection)[:7]
  # E^T K and F^T V project each example's own keys and values along the length axis.
  kp, vp = np.einsum("nj,bnhd->bjhd", e, k), np.einsum("nj,bnhd->bjhd", f, v)
  logits = np.einsum("bqhd,bjhd->bhqj", q, kp) / np.sqrt(D // H)
  w = np.exp(logits - logits.max(-1, keepdims=True))
  w /= w.sum(-1, keepdims=True)
  expected = np.einsum("bqhd,hdm->bqm", np.einsum("bhqj,bjhd->bqhd", w, vp), p(model.out.kernel))
  y, weights = model(x, return_weights=True)
  close(y, expected, atol=1e-4)
  close(weights, w, atol=1e-5)
  assert weights.shape == (2, H, 7, 8)  # over the k = 8 projected keys


@pytest.mark.parametrize("kind", ["decoder", "encoder_decoder"])
def test_linformer_cannot_be_causal(kind):
  with pytest.raises(ValueError, match="linformer cannot be causal"):
    make_attention("linformer", d_model=D, num_heads=H, max_len=N, rngs=nnx.Rngs(0), causal=True)
  with pytest.raises(ValueError, match="'linformer' cannot be causal"):
    ModelConfig(kind=kind, variant="linformer")
  encoder = build("linformer")
  for call in (lambda: encoder.init_cache(1, N), lambda: encoder(inputs(0, 1, 1), decode=True)):
    with pytest.raises(ValueError, match="encoder-only"):
      call()


def test_linformer_is_length_bound():
  with pytest.raises(ValueError, match=r"'linformer'.*max_len=16.*length 17"):
    build("linformer")(inputs(0, 1, N + 1))


def test_linformer_packed_rows_need_positions():
  """E and F rows are looked up by position: segment ids alone would index them by slot."""
  segment_ids = jnp.asarray([[1] * 5 + [2] * 3, [1] * 3 + [2] * 5])
  with pytest.raises(ValueError, match=r"'linformer'.*segment_ids.*pass positions"):
    build("linformer")(inputs(0, 2, 8), segment_ids=segment_ids)


# ---------------------------------------------------------------------------------------------
# Relative position bias.
# ---------------------------------------------------------------------------------------------

# relative position (key - query) -> T5 bucket, 32 buckets, max distance 128, worked by hand:
# below max_exact (8 bidirectional, 16 unidirectional) the bucket is the distance; above it,
# max_exact + floor(log(distance / max_exact) / log(128 / max_exact) * (half - max_exact)).
BIDIRECTIONAL = {0: 0, -1: 1, -2: 2, -7: 7, -8: 8, -16: 10, -20: 10, -40: 12, -127: 15, -128: 15,
                 -1000: 15, 1: 17, 2: 18, 7: 23, 8: 24, 16: 26, 20: 26, 127: 31, 5000: 31}
UNIDIRECTIONAL = {0: 0, 1: 0, 100: 0, -1: 1, -15: 15, -16: 16, -20: 17, -32: 21, -50: 24,
                  -127: 31, -128: 31, -1000: 31}


@pytest.mark.parametrize("bidirectional, table", [(True, BIDIRECTIONAL),
                                                  (False, UNIDIRECTIONAL)])
def test_relative_position_bucket_matches_hand_values(bidirectional, table):
  rel = np.asarray(list(table))
  got = relative_position_bucket(rel, bidirectional=bidirectional)
  np.testing.assert_array_equal(np.asarray(got), np.asarray(list(table.values())))


def test_relative_bias_adds_the_bucket_table_per_head():
  bias = RelativePositionBias(H, bidirectional=True, rngs=nnx.Rngs(0))
  positions = jnp.asarray([[0, 1, 2, 0, 1]])  # a packed row: the second example restarts at 0
  got = np.asarray(bias(positions, positions))
  assert got.shape == (1, H, 5, 5)
  table = np.asarray(bias.table[...])
  for i, pi in enumerate([0, 1, 2, 0, 1]):
    for j, pj in enumerate([0, 1, 2, 0, 1]):
      np.testing.assert_array_equal(got[0, :, i, j], table[BIDIRECTIONAL[pj - pi]])


def test_relative_bias_direction_must_match_the_layer():
  bias = RelativePositionBias(H, bidirectional=True, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="causal layer needs a unidirectional"):
    make_attention("vanilla", d_model=D, num_heads=H, max_len=N, rngs=nnx.Rngs(0), causal=True,
                   relative_bias=bias)


# ---------------------------------------------------------------------------------------------
# Config strings and errors.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["lightweight_conv+vanilla", "random+linformer",
                                     "dynamic_conv+lightweight_conv"])
def test_token_mixers_cannot_be_mixed(variant):
  with pytest.raises(ValueError, match="replaces the whole attention layer"):
    parse_variant(variant)
  with pytest.raises(ValueError, match="replaces the whole attention layer"):
    ModelConfig(variant=variant)


@pytest.mark.parametrize("variant", TOKEN_MIXERS)
def test_relative_bias_needs_logits(variant):
  with pytest.raises(ValueError, match="no attention logits"):
    make_attention(variant, d_model=D, num_heads=H, max_len=N, rngs=nnx.Rngs(0),
                   relative_bias=True)
  with pytest.raises(ValueError, match="has none"):
    ModelConfig(kind="encoder_classifier", variant=variant, relative_bias=True)


def test_conv_errors_are_clear():
  centred = build("lightweight_conv")
  with pytest.raises(ValueError, match="cannot decode incrementally"):
    centred.init_cache(1, N)
  with pytest.raises(ValueError, match="no attention weights"):
    centred(inputs(0, 1, 4), return_weights=True)
  with pytest.raises(ValueError, match=r"token mask"):
    centred(inputs(0, 1, 4), mask=jnp.ones((1, 1, 4, 4), bool))
  with pytest.raises(ValueError, match="init_cache"):
    build("lightweight_conv", causal=True)(inputs(0, 1, 1), decode=True)
  with pytest.raises(ValueError, match="conv_kernel_sizes"):
    ModelConfig(conv_kernel_sizes=())


AXIS_SIZES = {"embed": D, "heads": H, "kv": D // H, "length": N}


@pytest.mark.parametrize("case", [("lightweight_conv", False, None), ("dynamic_conv", True, None),
                                  ("linformer", False, None), ("random+vanilla", True, True)],
                         ids=case_id)
def test_every_parameter_has_logical_axes(case):
  variant, causal, rel = case
  model = make_attention(variant, d_model=D, num_heads=H, max_len=N, rngs=nnx.Rngs(0),
                         causal=causal, relative_bias=rel, kernel_size=K, linformer_k=8)
  variables = [(p, v) for p, v in nnx.iter_graph(model) if isinstance(v, nnx.Param)]
  assert variables
  for path, var in variables:
    assert LOGICAL_AXES in var.get_metadata(), path
    axes = logical_axes(var)
    assert len(axes) == var[...].ndim, (path, axes)
    for name, size in zip(axes, var.shape):
      if name is not None:
        assert AXIS_SIZES[name] == size, (path, axes, var.shape)
    assert "heads" in axes or "length" in axes or "embed" in axes, (path, axes)


# ---------------------------------------------------------------------------------------------
# Inside the models.
# ---------------------------------------------------------------------------------------------

TINY = dict(vocab_size=16, d_model=16, num_heads=2, d_ff=32, num_encoder_layers=2,
            num_decoder_layers=2, max_len=16, dropout_rate=0.0, num_classes=3,
            conv_kernel_sizes=(3, 5), linformer_k=4)
MODEL_CASES = [("decoder", "lightweight_conv", False), ("decoder", "dynamic_conv", False),
               ("decoder", "random+vanilla", True), ("encoder_decoder", "dynamic_conv", False),
               ("encoder_decoder", "vanilla", True), ("encoder_classifier", "linformer", False),
               ("encoder_classifier", "lightweight_conv", False)]


def tiny_model(kind, variant, relative_bias, seed=0):
  cfg = ModelConfig(**{**TINY, "kind": kind, "variant": variant, "relative_bias": relative_bias})
  graphdef, state = nnx.split(nnx.eval_shape(lambda: make_model(cfg, rngs=nnx.Rngs(0))))
  rng = np.random.default_rng(seed)
  return nnx.merge(graphdef, jax.tree.map(
      lambda x: jnp.asarray(rng.normal(0.0, 0.3, x.shape).astype(x.dtype)), state))


def tokens(key, shape):
  return jax.random.randint(jax.random.key(key), shape, 1, TINY["vocab_size"])


@pytest.mark.parametrize("kind, variant, rel", MODEL_CASES)
def test_models_run_with_baselines(kind, variant, rel):
  model = tiny_model(kind, variant, rel)
  toks = tokens(0, (2, 8)).at[1, 6:].set(0)  # the second row is padded
  if kind == "decoder":
    out, shape = model(toks), (2, 8, TINY["vocab_size"])
  elif kind == "encoder_decoder":
    out, shape = model(tokens(1, (2, 7)), toks), (2, 8, TINY["vocab_size"])
  else:
    out, shape = model(toks), (2, TINY["num_classes"])
    close(model(toks[1:, :6]), out[1:], atol=1e-4)  # padding does not change the class logits
  assert out.shape == shape and out.dtype == jnp.float32 and bool(jnp.isfinite(out).all())
  if kind == "encoder_classifier":
    return
  # Cached decoding through the model equals its forward pass (up to the second row's padding).
  memory = model.encode(tokens(1, (2, 7))) if kind == "encoder_decoder" else None
  model.init_cache(2, 8)
  steps = jnp.concatenate(
      [model(toks[:, t:t + 1], decode=True) if memory is None else
       model.decode(toks[:, t:t + 1], memory, jnp.ones((2, 7), bool), decode=True)
       for t in range(8)], axis=1)
  close(steps[0], out[0], atol=1e-4)
  close(steps[1, :6], out[1, :6], atol=1e-4)


def test_relative_bias_is_one_table_per_stack():
  def abstract(**kw):
    cfg = ModelConfig(**{**TINY, "kind": "encoder_decoder", **kw})
    return nnx.eval_shape(lambda: make_model(cfg, rngs=nnx.Rngs(0)))

  model = abstract(relative_bias=True)
  assert count_params(model) - count_params(abstract()) == 2 * 32 * TINY["num_heads"]
  for stack, bidirectional in ((model.encoder, True), (model.decoder, False)):
    tables = {id(layer.self_attention.relative_bias) for layer in stack.layers}
    assert len(tables) == 1
    assert stack.layers[0].self_attention.relative_bias.bidirectional == bidirectional
  assert model.encoder.layers[0].self_attention.relative_bias is not (
      model.decoder.layers[0].self_attention.relative_bias)
  # Each shared table is one trained parameter: one nonzero gradient per stack.
  src, tgt = tokens(0, (2, 7)), tokens(1, (2, 8))
  grads = nnx.jit(nnx.grad(lambda m: m(src, tgt).mean()))(
      tiny_model("encoder_decoder", "vanilla", True))
  tables = [g for path, g in jax.tree_util.tree_leaves_with_path(grads)
            if "relative_bias" in jax.tree_util.keystr(path)]
  assert len(tables) == 2
  assert all(np.abs(np.asarray(g)).max() > 0 for g in tables)


def test_conv_kernel_sizes_follow_the_layer_index():
  cfg = ModelConfig(kind="encoder_decoder", variant="lightweight_conv", d_model=16, num_heads=2,
                    d_ff=32, num_encoder_layers=7, num_decoder_layers=6, vocab_size=16,
                    conv_kernel_sizes=[3, 7, 15, 31, 31, 31, 31])
  assert cfg.conv_kernel_sizes == (3, 7, 15, 31, 31, 31, 31)
  model = nnx.eval_shape(lambda: make_model(cfg, rngs=nnx.Rngs(0)))
  sizes = lambda stack: [layer.self_attention.kernel.shape[-1] for layer in stack.layers]  # noqa
  assert sizes(model.encoder) == [3, 7, 15, 31, 31, 31, 31]  # Wu et al.'s encoder
  assert sizes(model.decoder) == [3, 7, 15, 31, 31, 31]      # ... and decoder
  assert ModelConfig(conv_kernel_sizes=(7,)).attention_options(5)["kernel_size"] == 7
