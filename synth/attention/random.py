"""Random, Fixed Random and Factorized Random Synthesizer logits: alignment that ignores tokens.

Random:            B_h[i, j] = R_h[pos_i, pos_j], R_h in R^{N x N}, trained.
Fixed Random:      the same R_h, frozen at its (Glorot-uniform) initialisation.
Factorized Random: R_h = R1_h R2_h^T with R1_h, R2_h in R^{N x k} (paper: k = 8; R2 is stored
                   transposed, see FactorizedRandomLogits).

Logits depend on positions only, so they are identical for every example of a batch; we return
them with a batch dimension of 1 and let the softmax broadcast, which also lets XLA compute the
attention weights once per step instead of once per example. With packed rows the logits are
gathered at each example's own positions (R[pos_q, pos_k]), never sliced by slot.
"""
import jax
import jax.numpy as jnp
from flax import nnx

from synth.attention.projections import xavier
from synth.params import FrozenParam, param

# Variants whose logits depend on positions only: their attention weights are one (heads, q, k)
# matrix for the whole batch (core.SynthesizerAttention's shared path), so causal P V can be blocked.
SHARED_WEIGHT_VARIANTS = ("random", "fixed_random", "factorized_random")


class RandomLogits(nnx.Module):
  """A learned (or, with fixed=True, frozen) N x N logit matrix per head."""

  length_bound = True

  def __init__(self, d_model: int, num_heads: int, head_dim: int, max_len: int, *,
               rngs: nnx.Rngs, fixed: bool = False, dtype=jnp.float32):
    del d_model, head_dim
    self.matrix = param(rngs, xavier(1, 2, batch_axis=0), (num_heads, max_len, max_len),
                        ("heads", "length", "length"),
                        variable_type=FrozenParam if fixed else nnx.Param)
    self.dtype = dtype

  def __call__(self, x, positions=None):
    r = self.matrix[...].astype(self.dtype)
    if positions is None:
      n = x.shape[1]
      return r[None, :, :n, :n]
    logits = r[:, positions[:, :, None], positions[:, None, :]]  # (H, B, n, n)
    return jnp.moveaxis(logits, 0, 1)

  def init_cache(self, batch, length, dtype):
    del batch, length, dtype  # Input-independent logits: nothing to cache.

  def decode(self, x, index, length: int):
    del x
    row = jax.lax.dynamic_slice_in_dim(self.matrix[...], index, 1, axis=1)  # (H, 1, N)
    return row[None, :, :, :length].astype(self.dtype)


class FactorizedRandomLogits(nnx.Module):
  """Low-rank random logits R1 R2^T with rank `factor_k` per head.

  R2 is stored transposed, as `right` = R2^T of shape (heads, k, N). The gradient of R2 is a
  (k, N) x (N, N) product over the rows of the (heads, N, N) logit gradient; stored as (N, k),
  XLA's CPU backend computes it as a transposed skinny matmul about 5x slower (measured at
  N = 2048: 150 ms against 25 ms per call), about 5% of Factorized Random's train step there.
  """

  length_bound = True

  def __init__(self, d_model: int, num_heads: int, head_dim: int, max_len: int, *,
               rngs: nnx.Rngs, factor_k: int = 8, dtype=jnp.float32):
    del d_model, head_dim
    if factor_k < 1:
      raise ValueError(f"factorized_random needs factor_k >= 1, got {factor_k}")
    init = xavier(1, 2, batch_axis=0)  # Glorot: the same bound whichever of N, k is fan-in
    self.left = param(rngs, init, (num_heads, max_len, factor_k), ("heads", "length", None))
    self.right = param(rngs, init, (num_heads, factor_k, max_len), ("heads", None, "length"))
    self.dtype = dtype

  def __call__(self, x, positions=None):
    left, right = self.left[...].astype(self.dtype), self.right[...].astype(self.dtype)
    if positions is None:
      n = x.shape[1]
      return jnp.einsum("hik,hkj->hij", left[:, :n], right[:, :, :n])[None]
    return jnp.einsum("hbik,hkbj->bhij", left[:, positions], right[:, :, positions])

  def init_cache(self, batch, length, dtype):
    del batch, length, dtype

  def decode(self, x, index, length: int):
    del x
    left = jax.lax.dynamic_slice_in_dim(self.left[...], index, 1, axis=1)  # (H, 1, k)
    logits = jnp.einsum("hik,hkj->hij", left, self.right[...][:, :, :length])
    return logits[None].astype(self.dtype)
