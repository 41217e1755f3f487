"""Transformer building blocks: token embeddings, position encodings, feed-forward, layer norm.

Every parameter is created through synth.params.param so it carries logical axis names.
"""
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from synth.attention.projections import xavier
from synth.params import param


class Embed(nnx.Module):
  """Token embedding; `attend` reuses the table as the output projection (tied embeddings).

  Inputs are scaled by sqrt(d) and the table is initialised with stddev d^-0.5 (Tensor2Tensor), so
  both the embedded tokens and the tied logits start at unit scale.
  """

  def __init__(self, vocab_size: int, d_model: int, *, rngs: nnx.Rngs, dtype=jnp.float32):
    self.table = param(rngs, nnx.initializers.normal(d_model ** -0.5), (vocab_size, d_model),
                       ("vocab", "embed"))
    self.scale = d_model ** 0.5
    self.dtype = dtype

  def __call__(self, tokens):
    return jnp.take(self.table[...], tokens, axis=0).astype(self.dtype) * self.scale

  def attend(self, x):
    return jnp.einsum("bnd,vd->bnv", x.astype(self.dtype), self.table[...].astype(self.dtype))


class OutputHead(nnx.Module):
  """Untied output projection to vocabulary logits."""

  def __init__(self, d_model: int, vocab_size: int, *, rngs: nnx.Rngs, dtype=jnp.float32):
    self.kernel = param(rngs, xavier(0, 1), (d_model, vocab_size), ("embed", "vocab"))
    self.dtype = dtype

  def __call__(self, x):
    return jnp.einsum("bnd,dv->bnv", x.astype(self.dtype), self.kernel[...].astype(self.dtype))


def sinusoidal_encoding(positions, d_model: int, dtype=jnp.float32):
  """The Transformer's fixed sin/cos encoding of integer positions (..., n) -> (..., n, d)."""
  half = d_model // 2
  inv_freq = np.exp(-np.log(10_000.0) * np.arange(half) / max(half - 1, 1))
  angles = positions[..., None].astype(jnp.float32) * inv_freq
  enc = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)
  if d_model % 2:
    enc = jnp.pad(enc, [(0, 0)] * (enc.ndim - 1) + [(0, 1)])
  return enc.astype(dtype)


class LearnedPositions(nnx.Module):
  """A learned embedding per absolute position, up to max_len."""

  def __init__(self, max_len: int, d_model: int, *, rngs: nnx.Rngs, dtype=jnp.float32):
    self.table = param(rngs, nnx.initializers.normal(0.02), (max_len, d_model),
                       ("length", "embed"))
    self.dtype = dtype

  def __call__(self, positions):
    return jnp.take(self.table[...], positions, axis=0).astype(self.dtype)


class FeedForward(nnx.Module):
  """Position-wise MLP: relu(x W_1 + b_1) W_2 + b_2."""

  def __init__(self, d_model: int, d_ff: int, *, rngs: nnx.Rngs, dropout_rate: float = 0.0,
               dtype=jnp.float32):
    self.wi = param(rngs, xavier(0, 1), (d_model, d_ff), ("embed", "mlp"))
    self.bi = param(rngs, nnx.initializers.zeros, (d_ff,), ("mlp",))
    self.wo = param(rngs, xavier(0, 1), (d_ff, d_model), ("mlp", "embed"))
    self.bo = param(rngs, nnx.initializers.zeros, (d_model,), ("embed",))
    self.dropout = nnx.Dropout(dropout_rate, rngs=rngs) if dropout_rate else None
    self.dtype = dtype

  def __call__(self, x):
    h = jnp.einsum("bnd,df->bnf", x.astype(self.dtype), self.wi[...].astype(self.dtype))
    h = jax.nn.relu(h + self.bi[...].astype(self.dtype))
    if self.dropout is not None:
      h = self.dropout(h)
    y = jnp.einsum("bnf,fd->bnd", h, self.wo[...].astype(self.dtype))
    return y + self.bo[...].astype(self.dtype)


class LayerNorm(nnx.Module):
  """Layer normalisation computed in float32, returned in the compute dtype."""

  def __init__(self, d_model: int, *, rngs: nnx.Rngs, dtype=jnp.float32, eps: float = 1e-6):
    self.scale = param(rngs, nnx.initializers.ones, (d_model,), ("embed",))
    self.bias = param(rngs, nnx.initializers.zeros, (d_model,), ("embed",))
    self.eps = eps
    self.dtype = dtype

  def __call__(self, x):
    x = x.astype(jnp.float32)
    mean = x.mean(-1, keepdims=True)
    var = jnp.square(x - mean).mean(-1, keepdims=True)
    y = (x - mean) * jax.lax.rsqrt(var + self.eps) * self.scale[...] + self.bias[...]
    return y.astype(self.dtype)
