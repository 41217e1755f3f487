"""Tests of synth.models: parameter counts, the three model kinds with every attention variant,
incremental decoding, causality, packing, padding, options, remat and config validation.

Speed notes (measured on 2 shared CPU cores: ~50 s of CPU with JAX's persistent compilation
cache warm, ~100 s cold; almost all of it XLA compiling small programs):
- The 60M-parameter MT models are only ever built with nnx.eval_shape.
- The small models of the behaviour tests get their parameters from numpy (`random_model`)
  instead of the models' initialisers: eager initialisation compiles hundreds of tiny XLA programs
  per new shape. Random values everywhere (biases, norms and mixture weights included) also
  exercise more than zero/one initialisations would. The real initialisers run in the option
  tests (with the cheaper-to-compile 'rbg' random generator).
- Every behaviour test runs eagerly at the same few shapes (batch 4, lengths 7 and 8, one-token
  decoding steps), so XLA compiles each operation once for the whole file. Only the remat and
  sharding tests jit, with XLA's backend optimisations off to keep compiles short.
"""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from synth.config import base_config
from synth.models import PRESETS, ModelConfig, make_model
from synth.kinds import MODEL_KINDS
from synth.models.config import REMAT_POLICIES
from synth.models.transformer import key_mask
from synth.parallel import batch_sharding, make_mesh, state_shardings
from synth.params import FrozenParam, count_params

VARIANTS = ("vanilla", "random", "fixed_random", "dense", "factorized_dense", "factorized_random",
            "random+vanilla")

# The small model every behaviour test uses: 1 encoder and 2 decoder layers (two layers check that
# each layer keeps its own cache), N = 16.
TINY = dict(vocab_size=16, d_model=16, num_heads=2, d_ff=32, num_encoder_layers=1,
            num_decoder_layers=2, max_len=16, dropout_rate=0.0, num_classes=3)
BATCH = 4     # divisible by the 4-way 'data' axis of the sharded test
SRC_LEN = 7   # encoder inputs (encoder-decoder and classifier)
TGT_LEN = 8   # decoder tokens (decoder LM) and decoder targets (encoder-decoder)
ATOL = 1e-4


def tiny_config(kind: str, variant: str = "vanilla", **overrides) -> ModelConfig:
  return ModelConfig(**{**TINY, "kind": kind, "variant": variant, **overrides})


# ----------------------------------------------------------------------------------------------
# Closed-form parameter counts
# ----------------------------------------------------------------------------------------------

def self_attention_params(cfg: ModelConfig) -> tuple[int, int]:
  """(trainable, frozen) scalars of one self-attention layer, derived by hand.

  Shared by every variant: value projection W_V (d x H x d_h = d^2) and output W_O (d^2); no
  biases. Per component (H heads, d_h = d / H, N = max_len):
    vanilla            W_Q, W_K                                  2 d^2
    dense              W_1 (d^2) + b_1 (H d_h = d) + W_2 (H d_h N = d N) + b_2 (H N)
    factorized_dense   W_1 (d^2) + b_1 (d) + W_A (d a) + W_B (d b), a * b = N
    random             R: H N^2
    fixed_random       R: H N^2, frozen (not trainable)
    factorized_random  R1, R2: 2 H N k
  A mixture adds its weights: softmax H per component, sigmoid 1, sum 0.
  """
  d, h, n = cfg.d_model, cfg.num_heads, cfg.max_len
  a, b = cfg.factor_a, cfg.factor_b
  if not a and not b:
    a = max(x for x in range(1, int(n ** 0.5) + 1) if n % x == 0)
    b = n // a
  per_component = {
      "vanilla": (2 * d * d, 0),
      "dense": (d * d + d + d * n + h * n, 0),
      "factorized_dense": (d * d + d + d * a + d * b, 0),
      "random": (h * n * n, 0),
      "fixed_random": (0, h * n * n),
      "factorized_random": (2 * h * n * cfg.factor_k, 0),
  }
  parts = cfg.variant.split("+")
  trainable = 2 * d * d + sum(per_component[p][0] for p in parts)
  frozen = sum(per_component[p][1] for p in parts)
  if len(parts) > 1:
    trainable += {"softmax": len(parts) * h, "sigmoid": 1, "sum": 0}[cfg.mixture]
  return trainable, frozen


def expected_params(cfg: ModelConfig) -> tuple[int, int]:
  """(trainable, frozen) scalars of a whole model, derived by hand."""
  d, v = cfg.d_model, cfg.vocab_size
  sa, frozen_sa = self_attention_params(cfg)
  cross = 4 * d * d                                   # W_Q, W_K, W_V, W_O; always dot-product
  ffn = d * cfg.d_ff + cfg.d_ff + cfg.d_ff * d + d    # W_1, b_1, W_2, b_2
  norm = 2 * d                                        # scale and bias
  encoder_layer = sa + ffn + 2 * norm
  decoder_layer = sa + ffn + 2 * norm                 # decoder-only LM: no cross-attention
  final_norm = norm if cfg.norm == "pre" else 0
  positions = cfg.max_len * d if cfg.positions == "learned" else 0   # one table per embedder
  embed = v * d
  head = 0 if cfg.tie_embeddings else d * v
  if cfg.kind == "decoder":
    layers = cfg.num_decoder_layers
    return (embed + positions + layers * decoder_layer + final_norm + head,
            layers * frozen_sa)
  if cfg.kind == "encoder_classifier":
    layers = cfg.num_encoder_layers
    return (embed + positions + layers * encoder_layer + final_norm
            + d * cfg.num_classes + cfg.num_classes, layers * frozen_sa)
  # Encoder-decoder: decoder layers add cross-attention and its norm; untied adds a target
  # embedding table and an output head.
  decoder_layer += cross + norm
  target_embed = 0 if cfg.tie_embeddings else v * d
  layers = cfg.num_encoder_layers + cfg.num_decoder_layers
  return (embed + target_embed + head + 2 * positions
          + cfg.num_encoder_layers * encoder_layer + cfg.num_decoder_layers * decoder_layer
          + 2 * final_norm, layers * frozen_sa)


@functools.cache
def mt_counts(variant: str) -> tuple[int, int]:
  """(trainable, frozen) of the MT base preset with `variant`, counted on an abstract model."""
  cfg = ModelConfig(**{**PRESETS["transformer_base_mt"](), "variant": variant})
  model = nnx.eval_shape(lambda: make_model(cfg, rngs=nnx.Rngs(0)))
  return count_params(model), count_params(model, FrozenParam)


MT_VARIANTS = ("vanilla", "random", "fixed_random", "random+vanilla", "dense",
               "factorized_random")


@pytest.mark.parametrize("variant", MT_VARIANTS)
def test_mt_base_param_count_matches_closed_form(variant):
  cfg = ModelConfig(**{**PRESETS["transformer_base_mt"](), "variant": variant})
  assert (cfg.vocab_size, cfg.d_model, cfg.num_heads, cfg.max_len, cfg.tie_embeddings) == (
      32000, 512, 8, 256, True)
  assert mt_counts(variant) == expected_params(cfg)


def test_mt_base_vanilla_size():
  # 32000 * 512 shared embedding + 6 encoder layers (4 d^2 attention + FFN + 2 norms) + 6 decoder
  # layers (two attentions, FFN, 3 norms) + 2 final norms.
  assert mt_counts("vanilla") == (60_487_680, 0)


def test_mt_base_relative_sizes_match_paper():
  """The paper (Table 1): Transformer 67M, Random 67M, Fixed Random 61M, R+V 73M.

  Our absolute sizes are 6.5M below the paper's: vanilla comes to 60.5M, not 67M, with a shared
  32k vocabulary and d = 512. 6.5M is what about 12.7k more rows of a 512-wide embedding table
  would add, so the paper's Tensor2Tensor setup most likely used a larger (or not fully shared)
  vocabulary. The vocabulary adds the same amount to every variant, so the differences between
  variants are what we compare, and they come out as the paper's: R has exactly as many
  parameters as V (H N^2 = 8 * 256^2 = 2 d^2 per layer replaces W_Q and W_K), Fixed Random has
  12 layers * H * N^2 = 6.3M fewer trainable ones, and R+V 6.3M more.
  """
  million = 1_000_000
  vanilla, _ = mt_counts("vanilla")
  random, random_frozen = mt_counts("random")
  fixed, fixed_frozen = mt_counts("fixed_random")
  mixed, mixed_frozen = mt_counts("random+vanilla")
  per_model_r = 12 * 8 * 256 * 256   # 12 self-attention layers, H = 8, N = 256
  assert per_model_r == 6_291_456

  assert random == vanilla and random_frozen == 0
  assert vanilla - fixed == per_model_r
  assert fixed_frozen == per_model_r
  # R+V keeps W_Q, W_K and adds R plus softmax mixture weights (2 components x 8 heads per layer).
  assert mixed - vanilla == per_model_r + 12 * 2 * 8 and mixed_frozen == 0

  paper = {"vanilla": 67, "random": 67, "fixed_random": 61, "random+vanilla": 73}
  assert abs((vanilla - fixed) - (paper["vanilla"] - paper["fixed_random"]) * million) < million
  assert abs((mixed - vanilla) - (paper["random+vanilla"] - paper["vanilla"]) * million) < million
  assert random - vanilla == (paper["random"] - paper["vanilla"]) * million
  # The constant offset from the paper's absolute sizes (see the docstring).
  for name, count in (("vanilla", vanilla), ("random", random), ("fixed_random", fixed),
                      ("random+vanilla", mixed)):
    assert 6.0 * million < paper[name] * million - count < 7.0 * million, name


# ----------------------------------------------------------------------------------------------
# Small models with random parameters
# ----------------------------------------------------------------------------------------------

@functools.cache
def _random_split(cfg: ModelConfig, seed: int):
  abstract = nnx.eval_shape(lambda: make_model(cfg, rngs=nnx.Rngs(0)))
  graphdef, state = nnx.split(abstract)
  rng = np.random.default_rng(seed)
  state = jax.tree.map(
      lambda x: jnp.asarray(rng.normal(0.0, 0.3, x.shape).astype(x.dtype)), state)
  return graphdef, state


def random_model(cfg: ModelConfig, seed: int = 0) -> nnx.Module:
  """A fresh model with N(0, 0.3^2) parameters; each call returns its own module (own cache)."""
  return nnx.merge(*_random_split(cfg, seed))


def tokens(key: int, shape, low: int = 1) -> jax.Array:
  """Random non-padding token ids."""
  return jax.random.randint(jax.random.key(key), shape, low, TINY["vocab_size"])


def pack(rows: list[list[jax.Array]], length: int):
  """Packs examples (1-D token arrays) into rows of `length`: tokens, segment ids, positions.

  Segment ids count 1, 2, ... within a row and 0 marks padding; positions restart at 0 for each
  example.
  """
  toks = np.zeros((len(rows), length), np.int32)
  segs = np.zeros_like(toks)
  poss = np.zeros_like(toks)
  for r, examples in enumerate(rows):
    start = 0
    for s, ex in enumerate(examples, start=1):
      toks[r, start:start + len(ex)] = np.asarray(ex)
      segs[r, start:start + len(ex)] = s
      poss[r, start:start + len(ex)] = np.arange(len(ex))
      start += len(ex)
  return jnp.asarray(toks), jnp.asarray(segs), jnp.asarray(poss)


def pad(examples: list[jax.Array], length: int) -> jax.Array:
  """Each example alone in its row, padded with token 0 to `length`."""
  return pack([[ex] for ex in examples], length)[0]


def assert_close(actual, expected, atol=ATOL):
  np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=atol, rtol=0)


# ----------------------------------------------------------------------------------------------
# Forward shapes
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("kind", tuple(MODEL_KINDS))
def test_forward_shapes(kind, variant):
  model = random_model(tiny_config(kind, variant))
  v = TINY["vocab_size"]
  if kind == "decoder":
    out = model(tokens(0, (BATCH, TGT_LEN)))
    assert out.shape == (BATCH, TGT_LEN, v)
  elif kind == "encoder_decoder":
    out = model(tokens(0, (BATCH, SRC_LEN)), tokens(1, (BATCH, TGT_LEN)))
    assert out.shape == (BATCH, TGT_LEN, v)
  else:
    out = model(tokens(0, (BATCH, SRC_LEN)))
    assert out.shape == (BATCH, TINY["num_classes"])
  assert out.dtype == jnp.float32
  assert bool(jnp.isfinite(out).all())


# ----------------------------------------------------------------------------------------------
# Incremental decoding equals the full forward pass
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_decoder_lm_cached_decoding_matches_forward(variant):
  model = random_model(tiny_config("decoder", variant))
  toks = tokens(2, (BATCH, TGT_LEN))
  full = model(toks)
  model.init_cache(BATCH, TGT_LEN)
  steps = [model(toks[:, t:t + 1], decode=True) for t in range(TGT_LEN)]
  assert all(s.shape == (BATCH, 1, TINY["vocab_size"]) for s in steps)
  assert_close(jnp.concatenate(steps, axis=1), full)


def encoder_decoder_cached_decode(model, inputs, targets_in):
  """The decoder's logits for targets_in, one cached step at a time against the encoded inputs."""
  memory = model.encode(inputs)
  model.init_cache(BATCH, TGT_LEN)
  steps = [model.decode(targets_in[:, t:t + 1], memory, key_mask(inputs, None), decode=True)
           for t in range(TGT_LEN)]
  return jnp.concatenate(steps, axis=1)


@pytest.mark.parametrize("variant", VARIANTS)
def test_encoder_decoder_cached_decoding_matches_forward(variant):
  model = random_model(tiny_config("encoder_decoder", variant))
  # The second source sentence is shorter: its padding must stay masked while decoding too.
  inputs = tokens(3, (BATCH, SRC_LEN)).at[1, 5:].set(0)
  targets_in = tokens(4, (BATCH, TGT_LEN))
  full = model(inputs, targets_in)
  assert_close(encoder_decoder_cached_decode(model, inputs, targets_in), full)


@pytest.mark.parametrize("kind", ("decoder", "encoder_decoder"))
def test_cached_decoding_with_other_options(kind):
  """Decoding also matches with learned positions (indexed by the decode state), post-LN and an
  untied output head."""
  model = random_model(tiny_config(kind, "random+vanilla", positions="learned", norm="post",
                                   tie_embeddings=False))
  targets_in = tokens(13, (BATCH, TGT_LEN))
  if kind == "decoder":
    full = model(targets_in)
    model.init_cache(BATCH, TGT_LEN)
    cached = jnp.concatenate([model(targets_in[:, t:t + 1], decode=True)
                              for t in range(TGT_LEN)], axis=1)
  else:
    inputs = tokens(14, (BATCH, SRC_LEN))
    full = model(inputs, targets_in)
    cached = encoder_decoder_cached_decode(model, inputs, targets_in)
  assert_close(cached, full)


def test_decode_without_cache_is_a_clear_error():
  model = random_model(tiny_config("decoder", "random"))
  with pytest.raises(ValueError, match="init_cache"):
    model(tokens(0, (BATCH, 1)), decode=True)


# ----------------------------------------------------------------------------------------------
# Causality
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("kind", ("decoder", "encoder_decoder"))
def test_causality(kind, variant):
  """Changing tokens at positions >= 4 leaves the logits at positions < 4 unchanged."""
  model = random_model(tiny_config(kind, variant))
  toks = tokens(5, (BATCH, TGT_LEN))
  changed = toks.at[:, 4:].set(tokens(6, (BATCH, TGT_LEN - 4)))
  assert bool((changed[:, 4:] != toks[:, 4:]).any())
  if kind == "decoder":
    before, after = model(toks), model(changed)
  else:
    inputs = tokens(7, (BATCH, SRC_LEN))
    before, after = model(inputs, toks), model(inputs, changed)
  assert_close(after[:, :4], before[:, :4], atol=1e-6)
  assert not np.allclose(after[:, 4:], before[:, 4:], atol=1e-3)


# ----------------------------------------------------------------------------------------------
# Packed rows equal each example alone
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_decoder_lm_packed_rows_match_examples_alone(variant):
  model = random_model(tiny_config("decoder", variant))
  t = tokens(8, (8, TGT_LEN))
  # Row 0: examples of 5 and 3 tokens; row 1: 3 and 4 tokens, then one padding slot.
  firsts, seconds = [t[0, :5], t[1, :3]], [t[2, :3], t[3, :4]]
  toks, segs, poss = pack([[firsts[0], seconds[0]], [firsts[1], seconds[1]]], TGT_LEN)
  packed = model(toks, segment_ids=segs, positions=poss)
  alone_first, alone_second = model(pad(firsts, TGT_LEN)), model(pad(seconds, TGT_LEN))
  for row in range(2):
    n1, n2 = len(firsts[row]), len(seconds[row])
    assert_close(packed[row, :n1], alone_first[row, :n1])
    assert_close(packed[row, n1:n1 + n2], alone_second[row, :n2])


@pytest.mark.parametrize("variant", VARIANTS)
def test_encoder_decoder_packed_rows_match_examples_alone(variant):
  model = random_model(tiny_config("encoder_decoder", variant))
  s, t = tokens(9, (4, SRC_LEN)), tokens(10, (4, TGT_LEN))
  # Sources: row 0 = 4 + 3 tokens, row 1 = 2 + 3 tokens + 2 padding.
  # Targets: row 0 = 5 + 3 tokens, row 1 = 3 + 4 tokens + 1 padding.
  src = [[s[0, :4], s[1, :3]], [s[2, :2], s[3, :3]]]
  tgt = [[t[0, :5], t[1, :3]], [t[2, :3], t[3, :4]]]
  inputs, in_segs, in_pos = pack(src, SRC_LEN)
  targets_in, tgt_segs, tgt_pos = pack(tgt, TGT_LEN)
  packed = model(inputs, targets_in, inputs_segment_ids=in_segs, inputs_positions=in_pos,
                 targets_segment_ids=tgt_segs, targets_positions=tgt_pos)
  for which in range(2):
    alone = model(pad([row[which] for row in src], SRC_LEN),
                  pad([row[which] for row in tgt], TGT_LEN))
    for row in range(2):
      start = len(tgt[row][0]) if which else 0
      n = len(tgt[row][which])
      assert_close(packed[row, start:start + n], alone[row, :n])


# ----------------------------------------------------------------------------------------------
# Padding does not change the classifier's output
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_classifier_ignores_padding(variant):
  model = random_model(tiny_config("encoder_classifier", variant))
  real = tokens(11, (BATCH, SRC_LEN))
  reference = model(real)
  # Padding by token id 0 (no segment ids) ...
  extra = TGT_LEN - SRC_LEN
  padded = jnp.pad(real, ((0, 0), (0, extra)))
  assert_close(model(padded), reference)
  # ... and by segment id 0, whatever the tokens in the padding slots.
  junk = jnp.concatenate([real, tokens(12, (BATCH, extra))], axis=1)
  segs = (jnp.arange(TGT_LEN) < SRC_LEN).astype(jnp.int32)[None].repeat(BATCH, 0)
  slots = jnp.broadcast_to(jnp.arange(TGT_LEN), segs.shape)  # segment ids come with positions
  assert_close(model(junk, segment_ids=segs, positions=slots), reference)
  # The padding slots would have changed the output had they been real tokens.
  assert not np.allclose(model(junk), reference, atol=1e-3)


# ----------------------------------------------------------------------------------------------
# Options: norms, positions, embeddings, dtype, remat (real initialisers)
# ----------------------------------------------------------------------------------------------

def real_init_rngs() -> nnx.Rngs:
  """Rngs for the models' own initialisers. The 'rbg' generator compiles one XLA op per parameter
  shape where the default threefry compiles a whole hash function: 3x less test time."""
  return nnx.Rngs(jax.random.key(0, impl="rbg"))


OPTIONS = [
    dict(norm="pre", positions="sinusoidal", tie_embeddings=True),
    dict(norm="post", positions="learned", tie_embeddings=False),
    dict(norm="post", positions="sinusoidal", tie_embeddings=True),
    dict(norm="pre", positions="learned", tie_embeddings=False),
]


def run_model(model, kind, key=20):
  if kind == "decoder":
    return model(tokens(key, (BATCH, TGT_LEN)))
  if kind == "encoder_decoder":
    return model(tokens(key, (BATCH, SRC_LEN)), tokens(key + 1, (BATCH, TGT_LEN)))
  return model(tokens(key, (BATCH, SRC_LEN)))


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(map(str, o.values())))
@pytest.mark.parametrize("kind", tuple(MODEL_KINDS))
def test_options_build_and_run(kind, options):
  cfg = tiny_config(kind, "random+vanilla", **options)
  model = make_model(cfg, rngs=real_init_rngs())
  assert (count_params(model), count_params(model, FrozenParam)) == expected_params(cfg)
  out = run_model(model, kind)
  assert out.dtype == jnp.float32 and bool(jnp.isfinite(out).all())


def test_untied_encoder_decoder_has_separate_tables():
  model = make_model(tiny_config("encoder_decoder", tie_embeddings=False), rngs=real_init_rngs())
  assert model.encoder_embedder.embed is not model.decoder_embedder.embed
  assert model.head is not None
  tied = make_model(tiny_config("encoder_decoder"), rngs=real_init_rngs())
  assert tied.encoder_embedder.embed is tied.decoder_embedder.embed and tied.head is None


def test_bfloat16_compute_gives_float32_outputs():
  # The encoder-decoder covers both stacks, cross-attention and the tied output projection.
  kind = "encoder_decoder"
  cfg = tiny_config(kind, "random+vanilla", dtype="bfloat16")
  model = random_model(cfg)
  out = run_model(model, kind)
  assert out.dtype == jnp.float32 and bool(jnp.isfinite(out).all())
  # Parameters stay float32 and the result is the float32 model's up to bfloat16 rounding.
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(nnx.state(model)))
  reference = run_model(random_model(dataclasses.replace(cfg, dtype="float32")), kind)
  scale = float(jnp.abs(reference).max())
  assert float(jnp.abs(out - reference).max()) < 0.05 * scale + 0.05
  assert not np.array_equal(np.asarray(out), np.asarray(reference))


def lm_batch(kind: str, batch: int = BATCH) -> dict:
  """Model inputs and labels for a next-token (or class) cross-entropy loss."""
  if kind == "decoder":
    toks = tokens(30, (batch, TGT_LEN + 1))
    return dict(args=(toks[:, :-1],), labels=toks[:, 1:])
  if kind == "encoder_decoder":
    toks = tokens(31, (batch, TGT_LEN + 1))
    # Source padding in one row, so the sharded run also masks across shards.
    inputs = tokens(32, (batch, SRC_LEN)).at[1, 5:].set(0)
    return dict(args=(inputs, toks[:, :-1]), labels=toks[:, 1:])
  return dict(args=(tokens(33, (batch, SRC_LEN)),), labels=jnp.arange(batch) % TINY["num_classes"])


def make_loss_fn(graphdef):
  """loss(params, rest, batch): mean cross-entropy of the model nnx.merge(graphdef, ...)."""
  def loss_fn(params, rest, batch):
    logits = nnx.merge(graphdef, params, rest)(*batch["args"])
    logp = jax.nn.log_softmax(logits)
    return -jnp.take_along_axis(logp, batch["labels"][..., None], axis=-1).mean()
  return loss_fn


# XLA's CPU backend optimisations and fusion emitters make compiling these small programs 3-4x
# slower and do not matter for what the tests check.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}


def remat_policies_in(jaxpr) -> list:
  """The policy of every remat (jax.checkpoint) in a jaxpr, nested jaxprs included. Found by its
  parameters: the primitive's name has changed across jax versions ('checkpoint', 'remat2')."""
  found = []
  for eqn in jaxpr.eqns:
    if {"policy", "prevent_cse"} <= set(eqn.params):
      found.append(eqn.params["policy"])
    for value in eqn.params.values():
      for sub in value if isinstance(value, (list, tuple)) else (value,):
        inner = getattr(sub, "jaxpr", sub)
        if hasattr(inner, "eqns"):
          found += remat_policies_in(inner)
  return found


def test_remat_policies_give_same_loss_and_grads():
  # The encoder-decoder runs both kinds of TransformerStack (encoder, and decoder with
  # cross-attention); the decoder LM and the classifier use the same stack.
  kind = "encoder_decoder"
  cfg = tiny_config(kind, "random+vanilla", num_decoder_layers=1)
  batch = lm_batch(kind)

  def loss_and_grads(cfg):
    model = random_model(cfg)   # the same parameters whatever the remat options
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    loss_fn = make_loss_fn(graphdef)
    step = jax.jit(jax.value_and_grad(loss_fn), compiler_options=FAST_COMPILE)
    policies = remat_policies_in(jax.make_jaxpr(loss_fn)(params, rest, batch).jaxpr)
    return step(params, rest, batch), policies

  (loss, grads), policies = loss_and_grads(cfg)
  assert policies == []
  assert all(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads))
  for name, policy in REMAT_POLICIES.items():
    (loss_r, grads_r), policies = loss_and_grads(
        dataclasses.replace(cfg, remat=True, remat_policy=name))
    # One remat per layer (1 encoder + 1 decoder), each with the policy asked for.
    assert policies == [policy, policy], name
    assert_close(loss_r, loss, atol=1e-6)
    jax.tree.map(lambda a, b: assert_close(a, b, atol=1e-6), grads_r, grads)
  # Without remat the policy is ignored.
  (loss_n, _), policies = loss_and_grads(dataclasses.replace(cfg, remat_policy="dots"))
  assert policies == [] and float(loss_n) == float(loss)


# ----------------------------------------------------------------------------------------------
# Sharded training step on a (data=4, tensor=2) mesh of the 8 simulated CPU devices
# ----------------------------------------------------------------------------------------------

SHARDED_VARIANTS = {"decoder": "random+vanilla", "encoder_decoder": "dense",
                    "encoder_classifier": "factorized_random"}


@pytest.mark.parametrize("kind", tuple(MODEL_KINDS))
def test_sharded_forward_backward_matches_unsharded(kind):
  # synth.parallel's mesh always has ('data', 'fsdp', 'tensor') axes (Auto axis types, via
  # jax.make_mesh) so the config's rules can name all three; fsdp = 1 makes it data=4 x tensor=2.
  config = base_config()
  config.mesh.data, config.mesh.fsdp, config.mesh.tensor = 4, 1, 2
  mesh = make_mesh(config.mesh)
  assert dict(mesh.shape) == {"data": 4, "fsdp": 1, "tensor": 2}
  rules = config.mesh.rules

  # One decoder layer keeps the compile short; the eager reference reuses the operations
  # compiled by the other tests (same shapes).
  model = random_model(tiny_config(kind, SHARDED_VARIANTS[kind], num_decoder_layers=1))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  loss_fn = make_loss_fn(graphdef)
  batch = lm_batch(kind)
  reference = loss_fn(params, rest, batch)   # eager, on one device

  params_s = jax.device_put(params, state_shardings(params, mesh, rules))
  rest_s = jax.device_put(rest, state_shardings(rest, mesh, rules))
  batch_s = jax.device_put(batch, batch_sharding(mesh, rules))

  # Parameters are really split over 'tensor': a heads dimension (the value projection of the
  # first self-attention layer, (d, heads, d_h)) and the vocabulary of the embedding table.
  stack = model.decoder if kind == "decoder" else model.encoder
  value_path = ("encoder" if kind != "decoder" else "decoder", "layers", 0, "self_attention",
                "value", "kernel")
  value = dict(nnx.to_flat_state(params_s))[value_path].get_value()
  assert stack.layers[0].self_attention.value.kernel.shape == value.shape
  assert value.sharding.spec[1] == "tensor"
  assert value.addressable_shards[0].data.shape == (16, 1, 8)
  (table,) = [v.get_value() for path, v in nnx.to_flat_state(params_s)
               if path[-2:] == ("embed", "table")]   # one table, shared when tied
  assert table.sharding.spec[0] == "tensor"
  assert table.addressable_shards[0].data.shape == (8, 16)
  # The batch is split over 'data'.
  first = batch_s["args"][0]
  assert first.sharding.spec[0] == ("data", "fsdp") or first.sharding.spec[0] == "data"
  assert first.addressable_shards[0].data.shape[0] == BATCH // 4

  step = jax.jit(jax.value_and_grad(loss_fn), compiler_options=FAST_COMPILE)
  loss, grads = step(params_s, rest_s, batch_s)
  assert len(loss.sharding.device_set) == 8
  assert abs(float(loss) - float(reference)) < 1e-5

  # The gradient is the gradient of the unsharded loss: for unit directions u made of g itself,
  # of g's tensor-split parameters only and of the others only, central differences of the eager
  # unsharded loss match <g, u>.
  specs = jax.tree.leaves(jax.tree.map(lambda x: x.sharding.spec, params_s))
  grads = [np.asarray(g) for g in jax.tree.leaves(jax.device_get(grads))]
  split = ["tensor" in jax.tree.leaves(tuple(spec)) for spec in specs]
  assert any(split) and not all(split)
  treedef = jax.tree.structure(params)
  values = [np.asarray(p) for p in jax.tree.leaves(params)]
  eps = 1e-2
  for keep in (lambda i: True, lambda i: split[i], lambda i: not split[i]):
    direction = [g if keep(i) else np.zeros_like(g) for i, g in enumerate(grads)]
    norm = np.sqrt(sum(float((d * d).sum()) for d in direction))
    direction = [d / norm for d in direction]
    losses = [float(loss_fn(jax.tree.unflatten(treedef, [p + sign * eps * d for p, d in
                                                         zip(values, direction)]), rest, batch))
              for sign in (1, -1)]
    slope = (losses[0] - losses[1]) / (2 * eps)
    # <g, u> = |g restricted to the direction's parameters|.
    assert abs(slope - norm) < 1e-3 + 1e-2 * norm, (slope, norm)


# ----------------------------------------------------------------------------------------------
# Length limits
# ----------------------------------------------------------------------------------------------

# These tests set max_len = SRC_LEN = 7 so that every sequence keeps the shapes of the other tests
# (no new compilations): TGT_LEN = 8 tokens are one too many.
LIMIT = r"max_len=7.*length 8"


@pytest.mark.parametrize("kind", tuple(MODEL_KINDS))
@pytest.mark.parametrize("variant", ("random", "dense", "factorized_random", "random+vanilla"))
def test_longer_than_max_len_is_a_clear_error(kind, variant):
  model = random_model(tiny_config(kind, variant, max_len=SRC_LEN))
  too_long, ok = tokens(40, (BATCH, TGT_LEN)), tokens(41, (BATCH, SRC_LEN))
  if kind == "encoder_decoder":
    with pytest.raises(ValueError, match=LIMIT):
      model(too_long, ok)            # source too long
    with pytest.raises(ValueError, match=LIMIT):
      model(ok, too_long)            # target too long
  else:
    with pytest.raises(ValueError, match=LIMIT):
      model(too_long)
  if kind != "encoder_classifier":
    with pytest.raises(ValueError, match=LIMIT):
      model.init_cache(BATCH, TGT_LEN)


def test_vanilla_sinusoidal_has_no_length_limit():
  model = random_model(tiny_config("decoder", "vanilla", max_len=4))
  out = model(tokens(41, (BATCH, TGT_LEN)))
  assert bool(jnp.isfinite(out).all())
  model.init_cache(BATCH, TGT_LEN)


@pytest.mark.parametrize("kind", tuple(MODEL_KINDS))
def test_learned_positions_longer_than_max_len_is_a_clear_error(kind):
  # Learned position tables have max_len rows; gathering past them silently gave NaN logits.
  model = random_model(tiny_config(kind, "vanilla", positions="learned", max_len=SRC_LEN))
  too_long, ok = tokens(42, (BATCH, TGT_LEN)), tokens(43, (BATCH, SRC_LEN))
  with pytest.raises(ValueError, match=LIMIT):
    if kind == "encoder_decoder":
      model(ok, too_long)
    else:
      model(too_long)
  if kind != "encoder_classifier":
    with pytest.raises(ValueError, match=LIMIT):
      model.init_cache(BATCH, TGT_LEN)


# ----------------------------------------------------------------------------------------------
# ModelConfig validation
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value, message", [
    ("kind", "lm", r"model.kind='lm' is not one of decoder, encoder_decoder"),
    ("norm", "sandwich", r"model.norm='sandwich' is not one of pre, post"),
    ("positions", "rotary", r"model.positions='rotary' is not one of sinusoidal, learned"),
    ("dtype", "float16", r"model.dtype='float16' is not one of float32, bfloat16"),
    ("mixture", "max", r"model.mixture='max' is not one of sum, sigmoid, softmax"),
    ("remat_policy", "dot", r"model.remat_policy='dot' is not one of full, dots, dots_no_batch"),
    ("variant", "randm", r"unknown attention variant 'randm'"),
    ("variant", "dense+randm", r"unknown attention variant 'randm' in 'dense\+randm'"),
    ("variant", "random+random", r"'random\+random' repeats a component"),
    ("num_heads", 3, r"d_model=512 is not divisible by model.num_heads=3"),
])
def test_model_config_rejects_bad_values(field, value, message):
  with pytest.raises(ValueError, match=message):
    ModelConfig(**{field: value})


def test_unknown_remat_policy_is_a_one_line_config_error():
  from synth.config import ConfigError
  config = base_config()
  config.model.update(remat=True, remat_policy="nothing")
  with pytest.raises(ConfigError, match=r"^model.remat_policy='nothing' is not one of full, dots, "
                                        r"dots_no_batch$"):
    ModelConfig.for_run(config)


def test_model_config_from_config():
  # The base config's model section has exactly ModelConfig's fields, with the same defaults.
  assert ModelConfig.from_config(base_config().model) == ModelConfig()
  assert ({f.name for f in dataclasses.fields(ModelConfig)}
          == set(base_config().model.keys()))
  assert ModelConfig.from_config({"kind": "encoder_classifier", "num_classes": 5}).num_classes == 5
  with pytest.raises(ValueError, match=r"unknown model config fields: heads, layers"):
    ModelConfig.from_config({"kind": "decoder", "layers": 3, "heads": 4})
  with pytest.raises(ValueError, match=r"model.kind='lm'"):
    make_model({"kind": "lm"}, rngs=nnx.Rngs(0))


def test_presets_are_valid_configs():
  for name, preset in PRESETS.items():
    cfg = ModelConfig(**preset())
    assert cfg.d_model % cfg.num_heads == 0, name
  # A preset applied to the base config leaves a config ModelConfig accepts.
  config = base_config()
  config.model.update(PRESETS["transformer_base_mt"]())
  assert ModelConfig.from_config(config.model).kind == "encoder_decoder"
