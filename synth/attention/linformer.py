"""Linformer self-attention (Wang et al. 2020), the paper's encoding-only efficient baseline.

Keys and values are projected along the LENGTH axis to k rows before attending:

  K' = E^T (X W_K),  V' = F^T (X W_V),  E, F in R^{N x k}
  Y_h = softmax(Q_h K'_h^T / sqrt(d_h)) V'_h,  output = concat_h(Y_h) W_O

so attention costs O(n k) instead of O(n^2). E and F are one pair per layer shared by the heads
(Linformer's headwise sharing). Their rows are indexed by POSITION (given positions, else slots
0..n-1; packed rows must give positions) and sized by N = max_len, a hard limit as for the
synthesizers.

Encoder only: every projected key mixes every position, future ones included, so no causal mask
can be applied (Wang et al. say so themselves). Building it causal raises.

Padding keys and values are zeroed before the projection, so a padded row computes exactly what
its example computes alone. Packed rows (segment_ids) need each query to see the projection of
its own example only. The projection is linear, q . sum_{s in seg(q)} E[pos_s, j] k_s =
sum_s [seg_s = seg_q] E[pos_s, j] (q . k_s), so the per-example result comes exactly from the
segment-masked (n, n) scores (and likewise for the values). That path is O(n^2) like vanilla
attention, exact but not fast, and it runs whenever segment_ids are given (the data pipeline
passes them for padded rows too): measure Linformer's speed on rows without segment_ids.
"""
import jax
import jax.numpy as jnp
from flax import nnx

from synth.attention.conv import token_mask
from synth.attention.masks import check_packed_positions
from synth.attention.projections import HeadProjection, OutputProjection, xavier
from synth.params import param


class LinformerAttention(nnx.Module):
  """Self-attention over k length-projected keys and values (see module doc)."""

  length_bound = True

  def __init__(self, *, d_model: int, num_heads: int, max_len: int, rngs: nnx.Rngs,
               k: int = 32, causal: bool = False, dropout_rate: float = 0.0, dtype=jnp.float32):
    if causal:
      raise ValueError("linformer cannot be causal: its length projection mixes future positions "
                       "into every key (Wang et al. 2020); use it in encoders only")
    if k < 1:
      raise ValueError(f"linformer needs linformer_k >= 1, got {k}")
    if d_model % num_heads:
      raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
    head_dim = d_model // num_heads
    self.variant = "linformer"
    self.max_len = max_len
    self.query = HeadProjection(d_model, num_heads, head_dim, rngs=rngs, dtype=dtype)
    self.key = HeadProjection(d_model, num_heads, head_dim, rngs=rngs, dtype=dtype)
    self.value = HeadProjection(d_model, num_heads, head_dim, rngs=rngs, dtype=dtype)
    self.key_projection = param(rngs, xavier(0, 1), (max_len, k), ("length", None))
    self.value_projection = param(rngs, xavier(0, 1), (max_len, k), ("length", None))
    self.out = OutputProjection(num_heads, head_dim, d_model, rngs=rngs, dtype=dtype)
    self.dropout = nnx.Dropout(dropout_rate, rngs=rngs) if dropout_rate else None
    self.scale = head_dim ** -0.5
    self.dtype = dtype

  def check_length(self, length: int):
    if length > self.max_len:
      raise ValueError(
          f"attention variant 'linformer' supports sequences of at most max_len={self.max_len}, "
          f"got length {length}; raise max_len or shorten the input")

  def __call__(self, x, *, mask=None, positions=None, segment_ids=None, decode=False,
               return_weights=False):
    """Attends x (B, n, d) to itself; arguments as SynthesizerAttention's.

    The weights returned with return_weights are over the k projected keys: (B, heads, n, k).
    """
    if decode:
      raise ValueError("'linformer' is encoder-only and cannot decode incrementally")
    batch, n = x.shape[:2]
    self.check_length(n)
    check_packed_positions(self.variant, positions, segment_ids)
    q = self.query(x) * self.scale
    k, v = self.key(x), self.value(x)
    if mask is not None:
      keep = token_mask(mask, n, "linformer")[:, :, None, None].astype(k.dtype)
      k, v = k * keep, v * keep
    rows = jnp.broadcast_to(jnp.arange(n) if positions is None else positions, (batch, n))
    e = self.key_projection[...].astype(self.dtype)[rows]  # (B, n, k): E's rows by position
    f = self.value_projection[...].astype(self.dtype)[rows]
    if segment_ids is None:
      logits = jnp.einsum("bqhd,bjhd->bhqj", q, jnp.einsum("bnj,bnhd->bjhd", e, k))
    else:
      same = (segment_ids[:, None, :, None] == segment_ids[:, None, None, :]).astype(q.dtype)
      logits = jnp.einsum("bhqs,bsj->bhqj", jnp.einsum("bqhd,bshd->bhqs", q, k) * same, e)
    weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    dropped = (self.dropout(weights) if self.dropout is not None else weights).astype(v.dtype)
    if segment_ids is None:
      y = jnp.einsum("bhqj,bjhd->bqhd", dropped, jnp.einsum("bnj,bnhd->bjhd", f, v))
    else:
      y = jnp.einsum("bhqs,bshd->bqhd", jnp.einsum("bhqj,bsj->bhqs", dropped, f) * same, v)
    y = self.out(y)
    return (y, weights) if return_weights else y

  def init_cache(self, batch: int, length: int, dtype=jnp.float32):
    del batch, length, dtype
    raise ValueError("'linformer' is encoder-only and cannot decode incrementally")
