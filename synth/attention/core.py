"""The one attention layer every variant runs through.

Y = softmax(sum_m alpha_m S_m + mask_bias) (X W_V), output = concat_h(Y_h) W_O

where each S_m is the (batch | 1, heads, q, k) logit tensor of one component: dot product
(vanilla.py), dense or factorized dense (dense.py), random, fixed or factorized random (random.py).
A single-component variant skips the mixture. Only the logits differ between variants, so masks,
softmax, dropout, value/output projections and the decoding cache live here once. An optional
relative position bias (relative.py, T5's) is added to the mixed logits, outside the mixture.

A logit component implements:
  length_bound: bool                 True if its parameters are sized by max_len (N).
  __call__(x, positions) -> logits   positions None (row = one example at 0..n-1) or (B, n).
  init_cache(batch, length, dtype)   allocate whatever decoding needs (only keys, for vanilla).
  decode(x, index, length) -> logits for the single query x (B, 1, d) at position `index`
                                     against the `length` cache slots.
"""
import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax.experimental import checkify

from synth.attention.causal_blocks import AUTO, causal_block_matmul, check_block, resolve_block
from synth.attention.fused import check_impl, fused_attention
from synth.attention.masks import (MASK_VALUE, attention_allowed, attention_bias,
                                   check_packed_positions)
from synth.attention.mixture import MixtureWeights
from synth.attention.projections import HeadProjection, OutputProjection

# The least softmax mass a row's real keys may hold for the batch-shared path to renormalise it
# (see SynthesizerAttention._attend_shared). float32 keeps full relative precision down to about
# 1e-38, so 1e-20 leaves ample margin for the division and its gradient (1 / mass stays far from
# overflow). A row falls below it only when its padding logits beat its real ones by about 46.
_SHARED_MIN_MASS = 1e-20


def check_cache_room(index, length: int):
  """Raises if decoding step `index` (0-based) has no slot in a cache of `length` steps.

  The cache is written with dynamic slices, which clamp: an overrun would silently overwrite the
  last slot and attend as if there. Eagerly the index is a concrete number and this raises. Under
  jit it is traced and no Python check can see it, so the step's outputs are NaN instead (see
  _decode_step), and checkify.debug_check makes it a clear error for callers that run under
  jax.experimental.checkify (it compiles to nothing otherwise). A host callback could raise
  under plain jit too, but would stall every decoding step on the host.
  """
  if isinstance(index, jax.core.Tracer):
    checkify.debug_check(index < length, "decoding step {} is past the end of the decoding cache "
                         f"of {length} steps; call init_cache with a longer length", index + 1)
  elif int(index) >= length:
    raise ValueError(f"decoding step {int(index) + 1} does not fit the cache of {length} steps; "
                     f"call init_cache(batch, length) with length >= the number of steps decoded")


class SynthesizerAttention(nnx.Module):
  """Self-attention whose alignment logits come from one or more components (see module doc)."""

  def __init__(self, variant: str, components: dict[str, nnx.Module], *, d_model: int,
               num_heads: int, max_len: int, rngs: nnx.Rngs, causal: bool = False,
               mixture: str = "softmax", dropout_rate: float = 0.0, dtype=jnp.float32,
               relative_bias: nnx.Module | None = None, attention_impl: str = "einsum",
               causal_block: int = AUTO):
    head_dim = d_model // num_heads
    # How a dot-product component is computed (synth.attention.fused); einsum for the others.
    self.attention_impl = check_impl(attention_impl, dropout_rate=dropout_rate)
    # Blocked lower-triangular P V of causal shared weights (synth.attention.causal_blocks).
    check_block(causal_block)  # validates the setting now, not at the first step
    self.causal_block = causal_block
    self.variant = variant
    self.num_heads, self.head_dim, self.max_len = num_heads, head_dim, max_len
    self.causal = causal
    self.length_bound = any(c.length_bound for c in components.values())
    self.components = nnx.Dict(components)
    self.mixture = (MixtureWeights(len(components), num_heads, mixture, rngs=rngs)
                    if len(components) > 1 else None)
    self.value = HeadProjection(d_model, num_heads, head_dim, rngs=rngs, dtype=dtype)
    self.out = OutputProjection(num_heads, head_dim, d_model, rngs=rngs, dtype=dtype)
    self.dropout = nnx.Dropout(dropout_rate, rngs=rngs) if dropout_rate else None
    # Possibly one module shared by every layer of a stack (T5 shares one table per stack).
    self.relative_bias = relative_bias
    # nnx.data: a None attribute is otherwise static and init_cache could not assign a Cache.
    self.cached_value = nnx.data(None)
    self.cache_index = nnx.data(None)

  def check_length(self, length: int):
    """Raises a clear error when a length-bound variant would see more than max_len positions."""
    if self.length_bound and length > self.max_len:
      raise ValueError(
          f"attention variant '{self.variant}' supports sequences of at most max_len="
          f"{self.max_len}, got length {length}; raise max_len or shorten the input")

  def __call__(self, x, *, mask=None, positions=None, segment_ids=None, decode=False,
               return_weights=False):
    """Attends x (B, n, d) to itself.

    Args:
      x: input (B, n, d).
      mask: key-validity mask (B, n), True for real tokens, or a boolean array broadcastable to
        (B, heads, n, n). Padding keys always get zero weight.
      positions: (B, n) positions of each token within its own example, needed for packed rows
        (synthetic logits are indexed by position); None means 0..n-1 in every row, and with
        segment_ids it is an error for length-bound variants (see check_packed_positions).
      segment_ids: (B, n) example ids of packed rows; tokens attend only their own example.
      decode: run one step of incremental decoding against the cache made by init_cache.
      return_weights: also return the attention weights (B, heads, q, k).
    """
    if decode:
      return self._decode_step(x, mask, return_weights)
    n = x.shape[1]
    self.check_length(n)
    if self.length_bound:  # dot products ignore positions; relative distances match slots'
      check_packed_positions(self.variant, positions, segment_ids)
    pos = jnp.arange(n)[None] if positions is None else positions
    if self._fused(return_weights):
      q, k = self.components["vanilla"].query_key(x)
      q, bias = self._fused_logits(q, {name: c(x, positions) for name, c in
                                       self.components.items() if name != "vanilla"})
      if self.relative_bias is not None:
        bias = _add(bias, self.relative_bias(pos, pos))
      allowed = (attention_allowed(n, n, mask=mask, segment_ids=segment_ids)
                 if mask is not None or segment_ids is not None else None)
      return self.out(fused_attention(q, k, self.value(x), impl=self.attention_impl, bias=bias,
                                      allowed=allowed, causal=self.causal))
    logits = self._mix([c(x, positions) for c in self.components.values()])
    if self.relative_bias is not None:
      logits = logits + self.relative_bias(pos, pos)
    key_mask = None
    if self._shares_weights(logits, mask, segment_ids, return_weights):
      # Batch-1 logits stay batch-1: padding is taken out after the softmax (see _attend_shared).
      key_mask, mask = mask, None
    logits = logits + attention_bias(n, n, causal=self.causal, mask=mask, segment_ids=segment_ids)
    return self._attend(logits, self.value(x), return_weights, key_mask)

  def init_cache(self, batch: int, length: int, dtype=jnp.float32):
    """Allocates the decoding cache: values only, plus keys for a dot-product component."""
    self.check_length(length)
    self.cached_value = nnx.Cache(jnp.zeros((batch, length, self.num_heads, self.head_dim),
                                            dtype))
    self.cache_index = nnx.Cache(jnp.zeros((), jnp.int32))
    for component in self.components.values():
      component.init_cache(batch, length, dtype)

  def _decode_step(self, x, mask, return_weights):
    if self.cached_value is None:
      raise ValueError("decode=True needs a cache: call init_cache(batch, length) first")
    if x.shape[1] != 1:
      raise ValueError(f"decode=True takes one token per step, got {x.shape[1]}")
    index = self.cache_index[...]
    length = self.cached_value.shape[1]
    check_cache_room(index, length)
    v = self.value(x).astype(self.cached_value.dtype)
    self.cached_value[...] = jax.lax.dynamic_update_slice_in_dim(
        self.cached_value[...], v, index, 1)
    filled = (jnp.arange(length) <= index)[None, :]
    if mask is not None:
      filled = filled & jnp.asarray(mask, bool)
    # The query sits at position `index`, cache slot j at j.
    relative = (self.relative_bias(index[None, None], jnp.arange(length)[None])
                if self.relative_bias is not None else None)
    if self._fused(return_weights):
      q, k = self.components["vanilla"].decode_query_key(x, index)
      q, bias = self._fused_logits(q, {name: c.decode(x, index, length) for name, c in
                                       self.components.items() if name != "vanilla"})
      self.cache_index[...] = index + 1
      out = self.out(fused_attention(
          q, k, self.cached_value[...], impl=self.attention_impl, bias=_add(bias, relative),
          allowed=attention_allowed(1, length, mask=filled)))
    else:
      logits = self._mix([c.decode(x, index, length) for c in self.components.values()])
      if relative is not None:
        logits = logits + relative
      logits = logits + attention_bias(1, length, mask=filled)
      self.cache_index[...] = index + 1
      out = self._attend(logits, self.cached_value[...], return_weights)
    # A step past the cache (traced, so check_cache_room could not raise) has had its writes
    # clamped onto the last slot: NaN, not plausible numbers. Free in the steps that fit.
    return jax.tree.map(lambda a: jnp.where(index < length, a, jnp.nan), out)

  def _fused(self, return_weights: bool) -> bool:
    """True when the dot-product component runs through jax.nn.dot_product_attention: an impl
    other than einsum, a vanilla component, and no weights to return (the kernels keep none)."""
    return (self.attention_impl != "einsum" and "vanilla" in self.components
            and not return_weights)

  def _fused_logits(self, q, others: dict):
    """(queries, bias) for the fused kernel: alpha_v scales the queries, so that
    (alpha_v q) k^T = alpha_v (q k^T), and the other components' weighted logits (float32) are
    the bias; None when vanilla is alone. The mixture is the same one _mix computes."""
    if self.mixture is None:
      return q, None
    alpha = self.mixture()
    names = list(self.components)
    q = q * alpha[names.index("vanilla")][None, None, :, None].astype(q.dtype)
    return q, sum(alpha[names.index(name)][None, :, None, None] * s.astype(jnp.float32)
                  for name, s in others.items())

  def _mix(self, logits):
    """Weighted sum of component logits (in float32), or the only component's logits."""
    if self.mixture is None:
      return logits[0].astype(jnp.float32)
    alpha = self.mixture()
    return sum(alpha[m][None, :, None, None] * s.astype(jnp.float32)
               for m, s in enumerate(logits))

  def _shares_weights(self, logits, mask, segment_ids, return_weights) -> bool:
    """True when one (heads, q, k) weight matrix can serve every example of the batch.

    That holds for input-independent logits (Random, Factorized Random, their mixtures) unless
    something per example enters before the softmax: packed-row segments, a mask that is not a
    plain (B, k) key mask, or attention dropout. Weights that are returned keep the per-example
    bias path so callers see exactly softmax(logits + mask).
    """
    return (logits.shape[0] == 1 and segment_ids is None and not return_weights
            and self.dropout is None and (mask is None or jnp.ndim(mask) == 2))

  def _attend(self, logits, v, return_weights, key_mask=None):
    weights = jax.nn.softmax(logits, axis=-1)
    if weights.shape[0] == 1 and self.dropout is None:
      block = resolve_block(self.causal_block, v.shape[1]) if self.causal else 0
      y = self._attend_shared(logits[0], weights[0], v, key_mask, self.causal, block)
    else:
      weights = jnp.broadcast_to(weights, (v.shape[0], *weights.shape[1:]))
      dropped = self.dropout(weights) if self.dropout is not None else weights
      y = jnp.einsum("bhqk,bkhd->bqhd", dropped.astype(v.dtype), v)
    y = self.out(y)
    if return_weights:
      return y, jnp.broadcast_to(weights, (v.shape[0], *weights.shape[1:]))
    return y

  @staticmethod
  def _attend_shared(logits, weights, v, key_mask=None, causal=False, block=0):
    """weights = softmax(logits) (heads, q, k), shared by the batch, applied to v (B, k, h, d_h).

    Contracting the shared weights with every example's values directly ('hqk,bkhd') never
    broadcasts them to (B, heads, q, k); neither does the backward pass, whose weight gradient is
    one (heads, q, k) sum over the batch. With causal weights and a block size (causal_blocks),
    that contraction skips the zero upper triangle, block by block.

    A key mask (B, k) is applied after the softmax: for p = softmax(logits) (causal mask
    included) and m the 0/1 key mask, softmax(logits + log m)_j = p_j m_j / sum_k p_k m_k, so
        y = (p @ (m * v)) / (p @ m),
    exactly the masked softmax, at the cost of one (heads, q, k) x (B, k) product. A row whose
    every allowed key is padding gets what the additive mask gives it: every logit then sits at
    MASK_VALUE, the weights are uniform over all k slots and y is the mean of v. (Such a row is a
    padding query, whose output no loss reads; unlike the additive mask, it passes no gradient
    back to the logits.)

    That identity needs the real keys' p_j to be representable: p is normalised over ALL keys,
    so where a row's padding logits beat its real ones by more than about 88, the real keys'
    weights underflow to 0 in float32 (losing precision well before) and the division recovers
    nothing. Normalising by the max over each example's own real keys would need one softmax per
    example, which is what this path avoids. So every row that has an allowed real key is
    checked for a real-key mass p @ m of at least _SHARED_MIN_MASS; if any row of the step falls
    short, the whole step is computed exactly, a few query rows at a time (_exact_if_lost). The
    usual step pays for the check only: a comparison of p @ m, which the renormalisation computes
    anyway, and a reduction over the batch (one scalar all-reduce when the batch is sharded).
    """
    def weights_times(values):
      p = weights.astype(values.dtype)
      if block:
        return causal_block_matmul(p, values, block)
      return jnp.einsum("hqk,bkhd->bqhd", p, values)

    if key_mask is None:
      return weights_times(v)
    m = jnp.asarray(key_mask, bool)
    total = jnp.einsum("hqk,bk->bqh", weights, m.astype(weights.dtype))[..., None]  # (B, q, h, 1)
    # Queries with an allowed real key: the causal mask is the only mask in shared logits.
    sees_real = jnp.cumsum(m, axis=1) > 0 if causal else jnp.any(m, axis=1, keepdims=True)
    lost = jnp.any(sees_real[:, :, None, None] & (total < _SHARED_MIN_MASS))
    masked = jnp.where(m[:, :, None, None], v, jnp.zeros_like(v))
    numerator = weights_times(masked)
    has_keys = total > 0
    # Dividing by 1 when the step is lost keeps this (then unused) branch and its gradient finite.
    y = numerator.astype(jnp.float32) / jnp.where(has_keys & ~lost, total, 1.0)
    uniform = jnp.mean(v.astype(jnp.float32), axis=1, keepdims=True)  # (B, 1, heads, d_h)
    y = jnp.where(has_keys, y, uniform).astype(v.dtype)
    return _exact_if_lost(lost, y, logits, v, m)


def _add(bias, more):
  """bias + more, where either may be None (no bias)."""
  if bias is None:
    return more
  return bias if more is None else bias + more


# Query rows per trip of the exact path's loop (_exact_if_lost), or the largest divisor of q below
# it: a (B, heads, rows, k) softmax is all that loop holds at a time.
_EXACT_ROWS = 16


def _exact_rows(block, v, m):
  """Exact attention of a block of query rows: logits (heads, rows, k), causal mask included,
  values v (B, k, heads, d_h) and key mask m (B, k) -> (B, rows, heads, d_h).

  The key mask is added before the softmax, exactly as the per-example path adds it.
  """
  keep = m[:, None, None, :] | (block <= MASK_VALUE / 2)[None]  # causal masking is in place
  weights = jax.nn.softmax(block[None] + jnp.where(keep, 0.0, MASK_VALUE), axis=-1)
  return jnp.einsum("bhqk,bkhd->bqhd", weights.astype(v.dtype), v)


def _trips(lost, q: int):
  """(rows per trip, number of trips): q / rows trips when lost, none otherwise."""
  rows = math.gcd(q, _EXACT_ROWS)
  return rows, jnp.where(lost, q // rows, 0)


@jax.custom_vjp
def _exact_if_lost(lost, y, logits, v, m):
  """y (B, q, heads, d_h), or where `lost` (a traced bool) the exact masked attention.

  The exact path runs a few query rows at a time in a loop of q / rows trips when lost and of
  none otherwise: the usual step pays neither a (B, heads, q, k) softmax nor its memory, and
  there is no lax.cond, whose gradient would keep both branches' residuals. The loop slices
  queries, never the batch, so a batch sharded over devices is not gathered. The custom VJP
  routes the gradient the same way: to y in the usual step, through the exact rows otherwise.
  """
  rows, trips = _trips(lost, logits.shape[1])

  def replace(i, out):
    block = jax.lax.dynamic_slice_in_dim(logits, i * rows, rows, axis=1)
    return jax.lax.dynamic_update_slice_in_dim(out, _exact_rows(block, v, m), i * rows, axis=1)

  return jax.lax.fori_loop(0, trips, replace, y)


def _exact_if_lost_fwd(lost, y, logits, v, m):
  return _exact_if_lost(lost, y, logits, v, m), (lost, logits, v, m)


def _exact_if_lost_bwd(residuals, g):
  lost, logits, v, m = residuals
  rows, trips = _trips(lost, logits.shape[1])

  def accumulate(i, grads):
    d_logits, d_v = grads
    block = jax.lax.dynamic_slice_in_dim(logits, i * rows, rows, axis=1)
    _, vjp = jax.vjp(lambda block, v: _exact_rows(block, v, m), block, v)
    d_block, d_v_rows = vjp(jax.lax.dynamic_slice_in_dim(g, i * rows, rows, axis=1))
    d_logits = jax.lax.dynamic_update_slice_in_dim(d_logits, d_block, i * rows, axis=1)
    return d_logits, d_v + d_v_rows

  d_logits, d_v = jax.lax.fori_loop(0, trips, accumulate,
                                    (jnp.zeros_like(logits), jnp.zeros_like(v)))
  return None, jnp.where(lost, jnp.zeros_like(g), g), d_logits, d_v, None


_exact_if_lost.defvjp(_exact_if_lost_fwd, _exact_if_lost_bwd)
