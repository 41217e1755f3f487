"""Attention masks as additive logit biases.

All masks in synth become one additive bias of shape (batch | 1, 1, q_len, k_len) that is added to
the mixed logits right before the softmax. Keeping them as a bias (rather than `where`) lets every
variant share one softmax and lets XLA fuse the add.
"""
import jax.numpy as jnp

# Large and negative but finite: a fully masked row (a padding query) softmaxes to a uniform row
# instead of NaN, and exp(MASK_VALUE - max) underflows to exactly 0 for masked keys.
MASK_VALUE = -1e9


def attention_allowed(
    q_len: int,
    k_len: int,
    *,
    causal: bool = False,
    mask=None,
    segment_ids=None,
    kv_segment_ids=None,
):
  """Returns a boolean (B|1, 1, q_len, k_len) array, True where query i may attend key j.

  The one definition of every mask: attention_bias turns it into the additive bias of the einsum
  path, and the fused kernels (synth.attention.fused) take it as their boolean `mask`.

  Args:
    q_len, k_len: query and key lengths.
    causal: query slot i may attend key slot j only if j <= i. Slots, not positions, decide this;
      within one packed segment the two orders agree, and segments are masked separately.
    mask: None, a key-validity mask (B, k_len) with True for real tokens, or a boolean array
      broadcastable to (B, heads, q_len, k_len).
    segment_ids: (B, q_len) ints for packed rows; queries attend only keys of their own segment.
    kv_segment_ids: the keys' segment ids when keys are not the queries (defaults to segment_ids).
  """
  allowed = jnp.ones((1, 1, q_len, k_len), dtype=bool)
  if causal:
    allowed &= (jnp.arange(q_len)[:, None] >= jnp.arange(k_len)[None, :])[None, None]
  if mask is not None:
    mask = jnp.asarray(mask, dtype=bool)
    if mask.ndim == 2:
      if mask.shape[-1] != k_len:
        raise ValueError(f"key mask has length {mask.shape[-1]} but there are {k_len} keys")
      mask = mask[:, None, None, :]
    allowed = allowed & mask
  if segment_ids is not None:
    kv = segment_ids if kv_segment_ids is None else kv_segment_ids
    allowed = allowed & (segment_ids[:, None, :, None] == kv[:, None, None, :])
  return allowed


def attention_bias(q_len: int, k_len: int, **masks):
  """Returns a float32 bias (B|1, 1, q_len, k_len) with 0 where attending is allowed and
  MASK_VALUE elsewhere; `masks` are attention_allowed's keyword arguments."""
  return jnp.where(attention_allowed(q_len, k_len, **masks), 0.0, MASK_VALUE).astype(jnp.float32)


def check_packed_positions(variant: str, positions, segment_ids):
  """Raises for packed rows without positions in a variant that indexes parameters by position.

  Synthetic logits (and Linformer's projections) are looked up at each token's position within
  its own example. With segment_ids but no positions, slots would stand in for positions, which
  is right for a row's first example only: every later one would read other positions' rows,
  silently. A caller with one example per row can pass positions 0..n-1 explicitly.
  """
  if segment_ids is not None and positions is None:
    raise ValueError(
        f"attention variant '{variant}' looks its parameters up by position, so packed rows "
        f"(segment_ids) need positions too: pass positions, each token's position within its own "
        f"example, along with segment_ids")
