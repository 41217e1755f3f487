"""Dot-product alignment (the Transformer's): B_h[i, j] = (x_i W_Q^h)(x_j W_K^h)^T / sqrt(d_h).

`DotProductLogits` is the logit source that synth.attention.core mixes with the synthesizers;
`CrossAttention` is plain encoder-decoder attention, which the paper leaves dot-product.
"""
import jax
import jax.numpy as jnp
from flax import nnx

from synth.attention.fused import check_impl, fused_attention
from synth.attention.masks import attention_allowed, attention_bias
from synth.attention.projections import HeadProjection, OutputProjection


class DotProductLogits(nnx.Module):
  """Query-key logits. Not length-bound: works at any sequence length, positions are ignored."""

  length_bound = False

  def __init__(self, d_model: int, num_heads: int, head_dim: int, max_len: int, *,
               rngs: nnx.Rngs, dtype=jnp.float32):
    del max_len  # Dot products need no positional parameters.
    self.query = HeadProjection(d_model, num_heads, head_dim, rngs=rngs, dtype=dtype)
    self.key = HeadProjection(d_model, num_heads, head_dim, rngs=rngs, dtype=dtype)
    self.scale = head_dim ** -0.5
    self.cached_key = nnx.data(None)  # data, not static: init_cache assigns a Cache here

  def __call__(self, x, positions=None):
    del positions
    q, k = self.query_key(x)
    return jnp.einsum("bqhd,bkhd->bhqk", q, k)

  def query_key(self, x):
    """Scaled queries and keys (B, n, heads, d_h): the logits are their product (the fused
    kernels of synth.attention.fused take them unmultiplied)."""
    return self.query(x) * self.scale, self.key(x)

  def init_cache(self, batch: int, length: int, dtype):
    self.cached_key = nnx.Cache(
        jnp.zeros((batch, length, *self.key.kernel.shape[1:]), dtype))

  def decode(self, x, index, length: int):
    """Logits of the one query in x (B, 1, d) against every cache slot; stores its key at `index`."""
    del length
    q, keys = self.decode_query_key(x, index)
    return jnp.einsum("bqhd,bkhd->bhqk", q, keys)

  def decode_query_key(self, x, index):
    """Stores the key of the one token x (B, 1, d) at cache slot `index`; returns its scaled
    query (B, 1, heads, d_h) and every cached key (B, length, heads, d_h), in the query's dtype."""
    k = self.key(x).astype(self.cached_key.dtype)
    self.cached_key[...] = jax.lax.dynamic_update_slice_in_dim(self.cached_key[...], k, index, 1)
    q = self.query(x) * self.scale
    return q, self.cached_key[...].astype(q.dtype)


class CrossAttention(nnx.Module):
  """Multi-head dot-product attention from decoder states to encoder outputs (memory)."""

  def __init__(self, d_model: int, num_heads: int, *, rngs: nnx.Rngs, dropout_rate: float = 0.0,
               dtype=jnp.float32, attention_impl: str = "einsum"):
    self.attention_impl = check_impl(attention_impl, dropout_rate=dropout_rate)
    if d_model % num_heads:
      raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
    head_dim = d_model // num_heads
    self.query = HeadProjection(d_model, num_heads, head_dim, rngs=rngs, dtype=dtype)
    self.key = HeadProjection(d_model, num_heads, head_dim, rngs=rngs, dtype=dtype)
    self.value = HeadProjection(d_model, num_heads, head_dim, rngs=rngs, dtype=dtype)
    self.out = OutputProjection(num_heads, head_dim, d_model, rngs=rngs, dtype=dtype)
    self.dropout = nnx.Dropout(dropout_rate, rngs=rngs) if dropout_rate else None
    self.scale = head_dim ** -0.5

  def __call__(self, x, memory, *, mask=None, segment_ids=None, memory_segment_ids=None,
               return_weights=False):
    """x (B, q, d) attends memory (B, k, d); mask is the memory's key-validity mask (B, k)."""
    q = self.query(x) * self.scale
    k, v = self.key(memory), self.value(memory)
    if self.attention_impl != "einsum" and not return_weights:
      masks = dict(mask=mask, segment_ids=segment_ids, kv_segment_ids=memory_segment_ids)
      allowed = (attention_allowed(x.shape[1], memory.shape[1], **masks)
                 if mask is not None or segment_ids is not None else None)
      return self.out(fused_attention(q, k, v, impl=self.attention_impl, allowed=allowed))
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k).astype(jnp.float32)
    logits += attention_bias(x.shape[1], memory.shape[1], mask=mask, segment_ids=segment_ids,
                             kv_segment_ids=memory_segment_ids)
    weights = jax.nn.softmax(logits, axis=-1)
    dropped = self.dropout(weights) if self.dropout is not None else weights
    y = self.out(jnp.einsum("bhqk,bkhd->bqhd", dropped.astype(v.dtype), v))
    return (y, weights) if return_weights else y
