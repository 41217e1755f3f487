"""Dense and Factorized Dense Synthesizer logits: each token predicts its own attention row.

Dense:  B_h[i, :] = F_h(x_i) = W_2^h relu(W_1^h x_i + b_1^h) + b_2^h, a vector of N = max_len
logits, one per key POSITION. Row i depends on token i alone (no token-token interaction), which
the tests check. Per head W_1^h is (d, d_h) and W_2^h is (d_h, N): d^2 + dN weights per layer.

Factorized Dense: F_h gives two short vectors A in R^a and B in R^b with a * b = N, and row i is the
flattened OUTER product: logit for key position j = p * b + q is A[p] * B[q] (A repeated
element-wise, B tiled). Tiling both factors instead would repeat whole blocks when gcd(a, b) > 1.
"""
import math

import jax
import jax.numpy as jnp
from flax import nnx

from synth.attention.projections import HeadProjection, xavier
from synth.params import param


def gather_key_positions(rows, positions):
  """Selects columns of per-position logits: rows (B, H, q, N) -> (B, H, q, k).

  positions (B, k) are the keys' positions within their own example (packed rows restart at 0).
  """
  return jnp.take_along_axis(rows, positions[:, None, None, :], axis=-1)


class _TokenRows(nnx.Module):
  """Logits whose row i is a function of token i alone: `rows(x)` gives all N columns per token.

  Subclasses define rows(x) -> (B, H, n, N); this class picks the key columns and decodes.
  """

  length_bound = True

  def __call__(self, x, positions=None):
    rows = self.rows(x)
    if positions is None:
      return rows[..., :x.shape[1]]
    return gather_key_positions(rows, positions)

  def init_cache(self, batch, length, dtype):
    del batch, length, dtype  # Rows depend on the query token only: nothing to cache.

  def decode(self, x, index, length: int):
    del index  # Row pos_t comes from token t itself; cache slot j holds position j.
    return self.rows(x)[..., :length]


class DenseLogits(_TokenRows):
  """Dense Synthesizer: a two-layer MLP per head maps x_i to the N logits of row i."""

  def __init__(self, d_model: int, num_heads: int, head_dim: int, max_len: int, *,
               rngs: nnx.Rngs, dtype=jnp.float32):
    self.hidden = HeadProjection(d_model, num_heads, head_dim, rngs=rngs, use_bias=True,
                                 dtype=dtype)
    self.kernel = param(rngs, xavier(1, 2, batch_axis=0), (num_heads, head_dim, max_len),
                        ("heads", "kv", "length"))
    self.bias = param(rngs, nnx.initializers.zeros, (num_heads, max_len), ("heads", "length"))
    self.dtype = dtype

  def rows(self, x):
    """The full per-position logits (B, H, n, N) of every token in x (B, n, d).

    The bias b_2 enters the product as one more row of W_2 against a constant 1 in the hidden
    vector, rather than as a broadcast add: added separately, it costs a pass over the
    (B, H, n, N) rows and, for its gradient, a reduction of their gradient over batch and
    positions. On XLA's CPU backend at n = 2048 that add took a third of the rows' forward and
    backward time (1.22 s against 0.90 s folded, per layer).
    """
    h = jax.nn.relu(self.hidden(x))
    h = jnp.concatenate([h, jnp.ones((*h.shape[:-1], 1), h.dtype)], axis=-1)
    kernel = jnp.concatenate([self.kernel[...], self.bias[...][:, None, :]], axis=1)
    return jnp.einsum("bnhk,hkm->bhnm", h, kernel.astype(self.dtype))



def default_factors(n: int) -> tuple[int, int]:
  """The most balanced a * b = n with a <= b (a = largest divisor of n not above sqrt(n))."""
  a = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
  return a, n // a


def resolve_factors(max_len: int, factor_a: int | None = None,
                    factor_b: int | None = None) -> tuple[int, int]:
  """Factorized Dense's (a, b) from the configured sizes: both missing -> default_factors, one
  missing -> the other divides max_len into it. Not checked here (a * b == max_len)."""
  if factor_a is None and factor_b is None:
    return default_factors(max_len)
  if factor_a is None:
    return max_len // factor_b, factor_b
  if factor_b is None:
    return factor_a, max_len // factor_a
  return factor_a, factor_b


class FactorizedDenseLogits(_TokenRows):
  """Factorized Dense Synthesizer: row i = flatten(outer(A_h(x_i), B_h(x_i))), a * b = N."""

  def __init__(self, d_model: int, num_heads: int, head_dim: int, max_len: int, *,
               rngs: nnx.Rngs, factor_a: int | None = None, factor_b: int | None = None,
               dtype=jnp.float32):
    factor_a, factor_b = resolve_factors(max_len, factor_a, factor_b)
    if factor_a * factor_b != max_len:
      raise ValueError(
          f"factorized_dense needs factor_a * factor_b == max_len, got {factor_a} * {factor_b} "
          f"!= {max_len}")
    self.factor_a, self.factor_b = factor_a, factor_b
    self.hidden = HeadProjection(d_model, num_heads, head_dim, rngs=rngs, use_bias=True,
                                 dtype=dtype)
    self.kernel_a = param(rngs, xavier(1, 2, batch_axis=0), (num_heads, head_dim, factor_a),
                          ("heads", "kv", "length"))
    self.kernel_b = param(rngs, xavier(1, 2, batch_axis=0), (num_heads, head_dim, factor_b),
                          ("heads", "kv", "length"))
    self.dtype = dtype

  def rows(self, x):
    """Per-position logits (B, H, n, a*b); column p * b + q holds A[p] * B[q]."""
    h = jax.nn.relu(self.hidden(x))
    a = jnp.einsum("bnhk,hka->bhna", h, self.kernel_a[...].astype(self.dtype))
    b = jnp.einsum("bnhk,hkc->bhnc", h, self.kernel_b[...].astype(self.dtype))
    return outer_rows(a, b)


@jax.checkpoint
def outer_rows(a, b):
  """flatten(outer(a, b)) over the last axes: (..., a), (..., b) -> (..., a * b).

  Rematerialised: the backward pass recomputes this product, one multiply per entry, from a and
  b instead of keeping it. Kept, it is one more (B, H, n, N) tensor per layer for the backward
  pass on top of the attention weights, and in the 6-layer base LM at n = 1024 that memory made
  the CPU train step 1.7x slower than Dense's, whose one layer alone runs as fast.
  """
  outer = a[..., :, None] * b[..., None, :]
  return outer.reshape(*outer.shape[:-2], a.shape[-1] * b.shape[-1])

