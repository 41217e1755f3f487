"""model.attention_impl: jax.nn.dot_product_attention ('xla') equals our einsums ('einsum').

For every mask kind the fused path must reproduce the einsum path's outputs, loss and gradients
(parameters and inputs): causal decoder self-attention, a padded encoder, packed segments,
encoder-decoder cross-attention and cached decoding, for vanilla alone and for mixtures whose
synthetic logits enter the kernel as its bias. Each equality is paired with a contrast that must
FAIL (the fused path given a wrong mask), so that a mask the test data cannot tell apart would
not pass unnoticed. 'cudnn' needs a GPU; on CPU only its config checks run here.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from synth.attention import CrossAttention
from synth.models import ModelConfig, make_model
from synth.train.losses import cross_entropy
from test_attention import D, build, close, inputs, max_diff

N = 10
VARIANTS = ("vanilla", "random+vanilla", "dense+vanilla", "vanilla+factorized_random")
# Row 0 all real, row 1 right padding, row 2 left padding: every row has a real key.
MASK = jnp.asarray([[True] * N, [True] * 6 + [False] * 4, [False] * 3 + [True] * 7])
# Two examples packed in row 0 (5 + 4 tokens, one padding slot), one example in row 1.
SEGMENTS = jnp.asarray([[1] * 5 + [2] * 4 + [0], [1] * 8 + [0] * 2, [1] * N])
POSITIONS = jnp.asarray([list(range(5)) + list(range(4)) + [0], list(range(8)) + [0, 0],
                         list(range(N))])


def _probe(seed, real):
  """Random output weights (B, n, D), zero on queries no loss reads (padding)."""
  probe = np.random.default_rng(seed).standard_normal((*real.shape, D))
  return jnp.asarray(probe * np.asarray(real)[:, :, None], jnp.float32)


def _loss_and_grads(model, x, probe, **kwargs):
  graphdef, state = nnx.split(model)

  def loss(state, x):
    return jnp.sum(nnx.merge(graphdef, state)(x, **kwargs) * probe)

  return jax.value_and_grad(loss, argnums=(0, 1))(state, x)


def assert_same(a, b, atol=2e-5):
  (loss_a, grads_a), (loss_b, grads_b) = a, b
  close(loss_a, loss_b, atol=atol)
  leaves_a, leaves_b = jax.tree.leaves(grads_a), jax.tree.leaves(grads_b)
  assert len(leaves_a) == len(leaves_b)
  for ga, gb in zip(leaves_a, leaves_b):
    close(ga, gb, atol=atol)


def assert_differs(a, b):
  assert max_diff(a[0], b[0]) > 1e-3


@pytest.mark.parametrize("variant", VARIANTS)
def test_causal_self_attention(variant):
  x = inputs(1, 3, N)
  probe = _probe(2, jnp.ones((3, N), bool))
  einsum = _loss_and_grads(build(variant, causal=True), x, probe)
  xla = _loss_and_grads(build(variant, causal=True, attention_impl="xla"), x, probe)
  assert_same(einsum, xla)
  # Contrast: the fused kernel without the causal mask.
  assert_differs(einsum, _loss_and_grads(build(variant, attention_impl="xla"), x, probe))


def test_causal_self_attention_with_relative_bias():
  """T5's relative bias is added to the fused kernel's bias as it is to the einsum logits."""
  x = inputs(1, 3, N)
  probe = _probe(2, jnp.ones((3, N), bool))
  einsum = _loss_and_grads(build("vanilla", causal=True, relative_bias=True), x, probe)
  xla = _loss_and_grads(build("vanilla", causal=True, relative_bias=True,
                              attention_impl="xla"), x, probe)
  assert_same(einsum, xla)
  assert_differs(einsum, _loss_and_grads(build("vanilla", causal=True, attention_impl="xla"),
                                         x, probe))


@pytest.mark.parametrize("variant", VARIANTS)
def test_padded_encoder(variant):
  x = inputs(3, 3, N)
  probe = _probe(4, MASK)
  einsum = _loss_and_grads(build(variant), x, probe, mask=MASK)
  xla_model = build(variant, attention_impl="xla")
  assert_same(einsum, _loss_and_grads(xla_model, x, probe, mask=MASK))
  assert_differs(einsum, _loss_and_grads(xla_model, x, probe))  # contrast: no key mask


@pytest.mark.parametrize("causal", [False, True], ids=["bidir", "causal"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_packed_segments(variant, causal):
  x = inputs(5, 3, N)
  probe = _probe(6, SEGMENTS > 0)
  packed = dict(segment_ids=SEGMENTS, positions=POSITIONS, mask=SEGMENTS > 0)
  einsum = _loss_and_grads(build(variant, causal=causal), x, probe, **packed)
  xla_model = build(variant, causal=causal, attention_impl="xla")
  assert_same(einsum, _loss_and_grads(xla_model, x, probe, **packed))
  # Contrast: the same rows with their segments not told apart.
  assert_differs(einsum, _loss_and_grads(xla_model, x, probe, positions=POSITIONS,
                                         mask=SEGMENTS > 0))


@pytest.mark.parametrize("masks", ["padding", "packed"])
def test_cross_attention(masks):
  x, memory = inputs(7, 3, 6), inputs(8, 3, N)
  target_segments = jnp.asarray([[1, 1, 1, 2, 2, 0], [1] * 6, [1] * 6])
  if masks == "padding":
    kwargs = dict(mask=MASK)
  else:
    kwargs = dict(mask=SEGMENTS > 0, segment_ids=target_segments, memory_segment_ids=SEGMENTS)
  # A padding target (segment 0) sees no key: its output, which no loss reads, is left out.
  probe = _probe(9, target_segments > 0)

  def run(impl, **kw):
    model = CrossAttention(D, 4, rngs=nnx.Rngs(0), attention_impl=impl)
    graphdef, state = nnx.split(model)

    def loss(state, x, memory):
      return jnp.sum(nnx.merge(graphdef, state)(x, memory, **kw) * probe)

    return jax.value_and_grad(loss, argnums=(0, 1, 2))(state, x, memory)

  einsum = run("einsum", **kwargs)
  assert_same(einsum, run("xla", **kwargs))
  assert_differs(einsum, run("xla"))  # contrast: the memory's padding attended


@pytest.mark.parametrize("variant", VARIANTS)
def test_cached_decoding(variant):
  """Step-by-step decoding through the fused kernel equals the einsum decoding and the full
  causal pass; a padding key mask is honoured at every step."""
  x = inputs(10, 3, N)
  mask = jnp.asarray([[True] * N, [True] * N, [True] * 2 + [False] + [True] * (N - 3)])

  def decode(model):
    model.init_cache(3, N)
    return jnp.concatenate([model(x[:, i:i + 1], decode=True, mask=mask) for i in range(N)], 1)

  einsum, xla = build(variant, causal=True), build(variant, causal=True, attention_impl="xla")
  steps = decode(xla)
  close(steps, decode(einsum))
  close(steps, einsum(x, mask=mask))
  # Contrast: the full pass without the padded key differs where that key is visible.
  assert max_diff(steps, einsum(x)) > 1e-3


TINY = dict(vocab_size=16, d_model=16, num_heads=2, d_ff=32, num_encoder_layers=1,
            num_decoder_layers=2, max_len=16, dropout_rate=0.0)


def _model_loss_and_grads(cfg, batch_fn):
  model = make_model(cfg, rngs=nnx.Rngs(0))
  graphdef, state = nnx.split(model)

  def loss(state):
    logits, targets, weights = batch_fn(nnx.merge(graphdef, state))
    return cross_entropy(logits, targets, weights)[0]

  return jax.value_and_grad(loss)(state)


@pytest.mark.parametrize("variant", ["vanilla", "random+vanilla"])
def test_decoder_lm_packed_loss_and_gradients(variant):
  rng = np.random.default_rng(11)
  tokens = jnp.asarray(rng.integers(1, 16, (2, 9)), jnp.int32)
  segments = jnp.asarray([[1] * 4 + [2] * 4 + [0], [1] * 9])
  positions = jnp.asarray([[0, 1, 2, 3, 0, 1, 2, 3, 0], list(range(9))])

  def batch(model, segment_ids=segments):
    logits = model(tokens[:, :-1], positions=positions[:, :-1],
                   segment_ids=None if segment_ids is None else segment_ids[:, :-1])
    return logits, tokens[:, 1:], (segments[:, 1:] > 0).astype(jnp.float32)

  einsum = _model_loss_and_grads(ModelConfig(variant=variant, **TINY), batch)
  xla_cfg = ModelConfig(variant=variant, attention_impl="xla", **TINY)
  assert_same(einsum, _model_loss_and_grads(xla_cfg, batch))
  assert_differs(einsum, _model_loss_and_grads(
      xla_cfg, lambda model: batch(model, segment_ids=None)))


def test_encoder_decoder_padded_loss_and_gradients():
  rng = np.random.default_rng(12)
  source = jnp.asarray(rng.integers(1, 16, (2, 7)), jnp.int32).at[1, 4:].set(0)
  targets = jnp.asarray(rng.integers(1, 16, (2, 6)), jnp.int32)
  targets_in = jnp.pad(targets[:, :-1], ((0, 0), (1, 0)))

  def batch(model):
    return model(source, targets_in), targets, jnp.ones(targets.shape, jnp.float32)

  cfg = dict(kind="encoder_decoder", variant="random+vanilla", **TINY)
  einsum = _model_loss_and_grads(ModelConfig(**cfg), batch)
  assert_same(einsum, _model_loss_and_grads(ModelConfig(attention_impl="xla", **cfg), batch))
  # Contrast: the source's padding made real tokens (the mask comes from tokens != 0).
  assert_differs(einsum, _model_loss_and_grads(
      ModelConfig(attention_impl="xla", **cfg),
      lambda model: (model(source.at[1, 4:].set(3), targets_in), targets,
                     jnp.ones(targets.shape, jnp.float32))))


@pytest.mark.parametrize("bad, message", [
    (dict(attention_impl="flash"), "model.attention_impl='flash' is not one of einsum, xla"),
    (dict(attention_impl="cudnn"), "needs model.dtype='bfloat16'"),
    (dict(attention_impl="xla", attention_dropout_rate=0.1), "has no attention-weight dropout"),
])
def test_config_errors_are_one_line(bad, message):
  with pytest.raises(ValueError, match=message) as info:
    ModelConfig(**bad)
  assert "\n" not in str(info.value)
  ModelConfig(attention_impl="cudnn", dtype="bfloat16")  # the supported combination builds
