"""Per-head input and output projections shared by every attention variant.

Kernels keep the head axis explicit, (d_model, heads, head_dim) and (heads, head_dim, d_model), so
each dimension carries its own logical axis name and can be sharded on its own (e.g. heads over the
'tensor' mesh axis). We use einsums of our own instead of nnx.LinearGeneral, whose
multi-dimensional kernels and logical partitioning do not combine under a mesh (flax issue 3676).
"""
import jax.numpy as jnp
from flax import nnx

from synth.params import param


def xavier(in_axis, out_axis, batch_axis=()):
  """Glorot-uniform initialiser (the Tensor2Tensor and authors' choice) for a kernel of any rank."""
  return nnx.initializers.variance_scaling(
      1.0, "fan_avg", "uniform", in_axis=in_axis, out_axis=out_axis, batch_axis=batch_axis)


class HeadProjection(nnx.Module):
  """x (B, n, d) -> (B, n, heads, head_dim), optionally with a per-head bias."""

  def __init__(self, d_model: int, num_heads: int, head_dim: int, *, rngs: nnx.Rngs,
               use_bias: bool = False, dtype=jnp.float32):
    self.kernel = param(rngs, xavier(0, (1, 2)), (d_model, num_heads, head_dim),
                        ("embed", "heads", "kv"))
    self.bias = (param(rngs, nnx.initializers.zeros, (num_heads, head_dim), ("heads", "kv"))
                 if use_bias else None)
    self.dtype = dtype

  def __call__(self, x):
    y = jnp.einsum("bnd,dhk->bnhk", x.astype(self.dtype), self.kernel[...].astype(self.dtype))
    if self.bias is not None:
      y = y + self.bias[...].astype(self.dtype)
    return y


class OutputProjection(nnx.Module):
  """Concatenated heads (B, n, heads, head_dim) -> (B, n, d)."""

  def __init__(self, num_heads: int, head_dim: int, d_model: int, *, rngs: nnx.Rngs,
               dtype=jnp.float32):
    self.kernel = param(rngs, xavier((0, 1), 2), (num_heads, head_dim, d_model),
                        ("heads", "kv", "embed"))
    self.dtype = dtype

  def __call__(self, y):
    return jnp.einsum("bnhk,hkd->bnd", y.astype(self.dtype), self.kernel[...].astype(self.dtype))
