"""model.scan_layers: one nnx.scan over stacked layers computes what the unrolled stack computes.

The scanned model is given the unrolled model's weights (its layers stacked in order) and must
give the same logits, loss gradients and cached decoding; stacking the layers in the wrong order
must not. Parameter counts, logical axes (a leading None for the layer axis) and sharding are
checked too.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from synth.config import base_config, mesh_rules
from synth.models import ModelConfig, make_model
from synth.parallel import make_mesh, state_shardings
from synth.params import count_params, logical_axes

TINY = dict(vocab_size=16, d_model=16, num_heads=2, d_ff=32, num_encoder_layers=2,
            num_decoder_layers=3, max_len=16, dropout_rate=0.0)
TOKENS = jnp.asarray(np.random.default_rng(0).integers(1, 16, (2, 8)), jnp.int32)


def _stacks(model):
  return [name for name in ("encoder", "decoder") if hasattr(model, name)]


def transplant(unrolled, scanned, order=None):
  """Copies unrolled's weights into scanned, each stack's layers stacked in `order`."""
  for name in _stacks(unrolled):
    layers = getattr(unrolled, name).layers
    states = [nnx.to_pure_dict(nnx.state(layers[i])) for i in (order or range(len(layers)))]
    # Values only: each scanned Variable keeps its own metadata, the stacked logical axes.
    target = nnx.state(getattr(scanned, name).layers)
    nnx.replace_by_pure_dict(target, jax.tree.map(lambda *xs: jnp.stack(xs), *states))
    nnx.update(getattr(scanned, name).layers, target)
  # Everything outside the layers (embeddings, final norms) as it is.
  graphdef, rest = nnx.split(unrolled, lambda path, _: "layers" not in path, ...)[:2]
  del graphdef
  nnx.update(scanned, rest)


def _pair(kind, variant, **options):
  unrolled = make_model(ModelConfig(kind=kind, variant=variant, **TINY, **options),
                        rngs=nnx.Rngs(0))
  scanned = make_model(ModelConfig(kind=kind, variant=variant, scan_layers=True, **TINY,
                                   **options), rngs=nnx.Rngs(1))
  transplant(unrolled, scanned)
  return unrolled, scanned


def _logits(model, kind):
  if kind == "decoder":
    return model(TOKENS)
  return model(TOKENS.at[1, 6:].set(0), TOKENS[:, :5])


@pytest.mark.parametrize("kind, variant", [("decoder", "random+vanilla"),
                                           ("encoder_decoder", "vanilla"),
                                           ("decoder", "factorized_random")])
def test_scanned_equals_unrolled(kind, variant):
  unrolled, scanned = _pair(kind, variant)
  assert count_params(scanned) == count_params(unrolled)
  np.testing.assert_allclose(_logits(scanned, kind), _logits(unrolled, kind), atol=1e-5)

  def grads(model):
    graphdef, state = nnx.split(model)
    return jax.grad(lambda s: jnp.sum(_logits(nnx.merge(graphdef, s), kind) ** 2))(state)

  g_unrolled, g_scanned = grads(unrolled), grads(scanned)
  for name in _stacks(unrolled):
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *g_unrolled[name]["layers"].values())
    for a, b in zip(jax.tree.leaves(stacked), jax.tree.leaves(g_scanned[name]["layers"])):
      np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)
  # Contrast: the same layers stacked in the wrong order.
  wrong = make_model(ModelConfig(kind=kind, variant=variant, scan_layers=True, **TINY),
                     rngs=nnx.Rngs(1))
  transplant(unrolled, wrong, order=[2, 1, 0] if kind == "decoder" else None)
  if kind == "encoder_decoder":
    transplant(unrolled, wrong)
    layers = wrong.decoder.layers
    nnx.update(layers, jax.tree.map(lambda x: x[::-1], nnx.state(layers)))
  assert float(jnp.max(jnp.abs(_logits(wrong, kind) - _logits(unrolled, kind)))) > 1e-3


def test_scanned_cached_decoding_equals_the_full_pass():
  _, scanned = _pair("decoder", "random+vanilla")
  full = scanned(TOKENS)
  scanned.init_cache(2, 16)
  steps = jnp.concatenate([scanned(TOKENS[:, i:i + 1], decode=True) for i in range(8)], 1)
  np.testing.assert_allclose(steps, full, atol=1e-5)


def test_scanned_remat_under_jit_equals_unrolled():
  unrolled, scanned = _pair("decoder", "vanilla", remat=True)
  graphdef, state = nnx.split(scanned)
  jitted = jax.jit(lambda s, t: nnx.merge(graphdef, s)(t))
  np.testing.assert_allclose(jitted(state, TOKENS), unrolled(TOKENS), atol=1e-5)


def test_stacked_parameters_have_a_replicated_layer_axis_and_shard():
  model = make_model(ModelConfig(scan_layers=True, **TINY), rngs=nnx.Rngs(0))
  kernel = model.decoder.layers.feed_forward.wi
  assert kernel.shape == (3, 16, 32) and logical_axes(kernel) == (None, "embed", "mlp")
  config = base_config()
  mesh = make_mesh(config.mesh, jax.devices()[:4])
  shardings = state_shardings(nnx.state(model), mesh, mesh_rules(config))
  assert len(jax.tree.leaves(shardings)) == len(jax.tree.leaves(nnx.state(model)))


@pytest.mark.parametrize("bad, message", [
    (dict(relative_bias=True), "model.scan_layers cannot scan layers that share"),
    (dict(variant="lightweight_conv", conv_kernel_sizes=(3, 7)), "differ by layer"),
])
def test_scan_config_errors_are_one_line(bad, message):
  with pytest.raises(ValueError, match=message) as info:
    ModelConfig(scan_layers=True, **bad)
  assert "\n" not in str(info.value)
