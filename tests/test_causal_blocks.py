"""The blocked lower-triangular P V of causal shared-weight attention (synth.attention.causal_blocks).

The blocked product must equal the dense 'hqk,bkhd->bqhd' for causal weights, in values and in
gradients through the softmax, for blocks that divide the length and blocks that do not; a
contrast with a non-zero upper triangle shows the blocks really skip it. The layer tests pin
Random-family attention with blocks to the dense layer, padding keys included.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from synth.attention.causal_blocks import (AUTO, causal_block_fraction, causal_block_matmul,
                                           resolve_block)
from synth.attention.masks import MASK_VALUE
from test_attention import build, close, inputs, max_diff

H, N, B, DH = 3, 10, 2, 4


def _causal_weights(logits):
  causal = jnp.tril(jnp.ones((N, N), bool))
  return jax.nn.softmax(logits + jnp.where(causal, 0.0, MASK_VALUE), axis=-1)


def _dense(p, v):
  return jnp.einsum("hqk,bkhd->bqhd", p, v)


def _data():
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.standard_normal((H, N, N)), jnp.float32)
  v = jnp.asarray(rng.standard_normal((B, N, H, DH)), jnp.float32)
  probe = jnp.asarray(rng.standard_normal((B, N, H, DH)), jnp.float32)
  return logits, v, probe


@pytest.mark.parametrize("block", [1, 3, 5, 9])
def test_blocked_equals_dense_in_values_and_gradients(block):
  logits, v, probe = _data()

  def loss(contract):
    return lambda logits, v: jnp.sum(contract(_causal_weights(logits), v) * probe)

  blocked = lambda p, v: causal_block_matmul(p, v, block)  # noqa: E731
  close(blocked(_causal_weights(logits), v), _dense(_causal_weights(logits), v))
  for g_blocked, g_dense in zip(jax.grad(loss(blocked), argnums=(0, 1))(logits, v),
                                jax.grad(loss(_dense), argnums=(0, 1))(logits, v)):
    close(g_blocked, g_dense)


def test_blocked_skips_the_upper_triangle():
  """Contrast: weights that are not causal differ, because the blocks never read above the
  diagonal blocks (entry (0, 9) is outside every block pair at block 3)."""
  logits, v, _ = _data()
  p = jax.nn.softmax(logits, axis=-1)
  assert max_diff(causal_block_matmul(p, v, 3), _dense(p, v)) > 1e-2


@pytest.mark.parametrize("variant", ["random", "factorized_random", "random+fixed_random"])
def test_layer_with_blocks_equals_dense_layer(variant):
  mask = jnp.asarray([[True] * 16, [True] * 11 + [False] * 5])
  x = inputs(3, 2, 16)
  probe = jnp.asarray(np.random.default_rng(4).standard_normal((2, 16, 32)), jnp.float32)
  dense, blocked = build(variant, causal=True, causal_block=0), build(variant, causal=True,
                                                                      causal_block=5)
  assert "custom_vjp_call" in str(jax.make_jaxpr(lambda x: blocked(x))(x))  # blocks are used
  assert "custom_vjp_call" not in str(jax.make_jaxpr(lambda x: dense(x))(x))
  for m in (None, mask):
    close(blocked(x, mask=m), dense(x, mask=m))

  def grads(model):
    graphdef, state = nnx.split(model)
    return jax.grad(lambda s, x: jnp.sum(nnx.merge(graphdef, s)(x, mask=mask) * probe),
                    argnums=(0, 1))(state, x)

  for a, b in zip(jax.tree.leaves(grads(blocked)), jax.tree.leaves(grads(dense))):
    close(a, b, atol=2e-5)


def test_block_resolution_and_fraction():
  assert resolve_block(AUTO, 2048, "gpu") == 256 and resolve_block(AUTO, 2048, "tpu") == 256
  assert resolve_block(AUTO, 512, "gpu") == 0  # too short to pay
  assert resolve_block(AUTO, 2048, "cpu") == 0  # measured slower on XLA:CPU
  assert resolve_block(0, 2048, "gpu") == 0
  assert resolve_block(100, 2048, "cpu") == 100 and resolve_block(4096, 2048) == 0
  with pytest.raises(ValueError, match="causal_block=-2"):
    resolve_block(-2, 16)
  # 8 blocks: (1 + ... + 8) / 64 of the square; dense counts it all.
  assert causal_block_fraction(256, 2048) == 36 / 64
  assert causal_block_fraction(0, 2048) == 1.0
  # A last, shorter block: blocks (0-3), (3-6), (6-9), (9-10) of n = 10.
  assert causal_block_fraction(3, 10) == (3 * 3 + 3 * 6 + 3 * 9 + 1 * 10) / 100
