"""The shared-weights path of input-independent attention (synth.attention.core._attend_shared).

Random-family logits are the same for every example, so the layer computes one (heads, q, k)
softmax per step and takes padding keys out afterwards by renormalising. These tests pin that
path to the plain per-example path (softmax of logits plus an additive mask), which the layer
still takes when weights are returned: outputs must agree to float tolerance, including rows
whose allowed keys are all padding, and so must gradients of every loss that does not read those
rows (a padding query's output, which no loss weighs).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from test_attention import build, close, inputs, max_diff

SHARED = ("random", "fixed_random", "factorized_random", "random+factorized_random")
N = 10
# Row 0: no padding. Row 1: right padding. Row 2: left padding (with causal attention its first
# queries see only padding keys). Row 3: nothing but padding.
MASK = jnp.asarray([[True] * N,
                    [True] * 6 + [False] * 4,
                    [False] * 3 + [True] * 7,
                    [False] * N])


def _outputs(model, x, mask, per_example):
  if per_example:
    return model(x, mask=mask, return_weights=True)[0]
  return model(x, mask=mask)


def _seeing_queries(mask, causal):
  """(B, n): queries with at least one allowed real key."""
  if causal:
    return jnp.cumsum(mask, axis=1) > 0
  return jnp.broadcast_to(mask.any(axis=1, keepdims=True), mask.shape)


def _grads(model, x, mask, per_example, causal):
  """Gradients w.r.t. the parameters and the input of a random weighting of the outputs of the
  queries that see a real key."""
  graphdef, state = nnx.split(model)
  probe = jnp.asarray(np.random.default_rng(7).standard_normal((x.shape[0], N, 32)), jnp.float32)
  probe = probe * _seeing_queries(mask, causal)[:, :, None]

  def loss(state, x):
    return jnp.sum(_outputs(nnx.merge(graphdef, state), x, mask, per_example) * probe)

  return jax.grad(loss, argnums=(0, 1))(state, x)


@pytest.mark.parametrize("causal", [False, True], ids=["bidir", "causal"])
@pytest.mark.parametrize("variant", SHARED)
def test_shared_path_matches_per_example_masking(variant, causal):
  model = build(variant, causal=causal, mixture="softmax")
  x = inputs(5, MASK.shape[0], N)
  for mask in (MASK, None):
    close(_outputs(model, x, mask, per_example=False), _outputs(model, x, mask, per_example=True))
  fast = _grads(model, x, MASK, per_example=False, causal=causal)
  slow = _grads(model, x, MASK, per_example=True, causal=causal)
  for f, s in zip(jax.tree.leaves(fast), jax.tree.leaves(slow)):
    assert np.all(np.isfinite(np.asarray(f)))
    close(f, s, atol=2e-5)


def test_padding_keys_do_not_reach_real_queries_on_the_shared_path():
  model = build("random", causal=False)
  x = inputs(5, MASK.shape[0], N)
  noise = jnp.where(MASK[:, :, None], 0.0, inputs(6, MASK.shape[0], N))
  y, y_noisy = model(x, mask=MASK), model(x + noise, mask=MASK)
  real = np.asarray(MASK)
  close(np.asarray(y)[real], np.asarray(y_noisy)[real])
  # Contrast: without the mask the padding values leak into every query.
  assert np.max(np.abs(np.asarray(model(x)[1]) - np.asarray(model(x + noise)[1]))) > 1e-3


@pytest.mark.parametrize("causal", [False, True], ids=["bidir", "causal"])
def test_shared_path_is_exact_when_padding_logits_dwarf_the_real_ones(causal):
  """Padding keys whose logits beat the real ones by ~90 leave the real keys of the batch-shared
  softmax below float32's range (exp(-90) underflows to 0): renormalising after the softmax
  alone would then lose every real key and return the mean over all values, padding included."""
  model = build("random", causal=causal)
  model.components["random"].matrix[...] = model.components["random"].matrix[...].at[
      :, :, 4:].add(90.0)
  mask = jnp.asarray([[True] * 4 + [False] * (N - 4), [True] * 6 + [False] * (N - 6)])
  x = inputs(5, 2, N)
  fast = _outputs(model, x, mask, per_example=False)
  exact = _outputs(model, x, mask, per_example=True)
  assert np.all(np.isfinite(np.asarray(fast)))
  close(fast, exact, atol=2e-5)
  # Contrast: the padding logits really do decide the unmasked softmax.
  assert max_diff(model(x)[0], exact[0]) > 0.1
  # Gradients too: the queries of real tokens, weighted at random, on both paths.
  graphdef, state = nnx.split(model)
  probe = jnp.asarray(np.random.default_rng(8).standard_normal((2, N, 32)), jnp.float32)
  probe = probe * mask[:, :, None]

  def loss(state, per_example):
    return jnp.sum(_outputs(nnx.merge(graphdef, state), x, mask, per_example) * probe)

  for f, s in zip(jax.tree.leaves(jax.grad(loss)(state, False)),
                  jax.tree.leaves(jax.grad(loss)(state, True))):
    assert np.all(np.isfinite(np.asarray(f)))
    close(f, s, atol=2e-5)
