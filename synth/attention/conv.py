"""Lightweight and dynamic convolutions (Wu et al. 2019), the paper's convolutional baselines.

They replace the whole self-attention sublayer (Wu et al., Figure 2):

  u = GLU(x W_1 + b_1)                 Linear d -> 2d, gated back to d channels
  y_t = sum_{j<K} w_{h,j} u_{t-o+j}    depthwise conv over time, per head h (d/H channels each)
  output = y W_O                       Linear d -> d

Every channel of head h uses the same K-tap kernel, softmax-normalised over its taps:
  lightweight_conv: w_h = softmax(W_h), W in R^{H x K}: one kernel per head and layer.
  dynamic_conv:     w_{t,h} = softmax((u_t W_dyn)_h), W_dyn in R^{d x H x K}: step t predicts its
                    own kernel from its own conv input, as in fairseq's DynamicConv1dTBC.
The offset o is K-1 in decoders (taps t-K+1..t: causal) and (K-1)//2 otherwise (centred).

Taps outside the row, on padding slots or in another packed segment read zeros: padded inputs
are zeroed before convolving and cross-segment taps are masked, which is exactly the zero padding
an example sees when run alone, so padding never leaks and packed rows equal their examples.
Weights are not renormalised after masking (fairseq does not either). The convolution runs over
slots; inside a packed segment slots and positions advance together, so positions are not used.

Weight dropout (DropConnect, fairseq's weight_dropout) drops taps of the normalised kernel; the
attention layers' dropout_rate plays this role here.

Kernel size: one K per layer. Wu et al. grow K with depth ([3, 7, 15, 31, 31, 31, 31] in the
encoder, its first 6 in the decoder); ModelConfig.conv_kernel_sizes gives layer i the entry
min(i, len - 1), so that one list reproduces both stacks and a single entry means every layer.

Decoding cache: the last K-1 conv inputs u (B, K-1, H, d/H), oldest first. Step t convolves
[cache, u_t] and drops the oldest; the zero-initialised cache is the zero padding the full pass
sees left of slot 0, so cached decoding equals the full causal pass.
"""
import jax
import jax.numpy as jnp
from flax import nnx

from synth.attention.projections import HeadProjection, OutputProjection, xavier
from synth.params import param

CONV_VARIANTS = ("lightweight_conv", "dynamic_conv")


def token_mask(mask, length: int, variant: str):
  """A token mixer's validity mask (B, length), True for real tokens, from a (B, length) mask.

  Token mixers have no (query, key) matrix, so the pairwise masks attention accepts mean nothing.
  """
  mask = jnp.asarray(mask, bool)
  if mask.ndim != 2 or mask.shape[1] != length:
    raise ValueError(f"'{variant}' takes a (batch, {length}) token mask, got shape {mask.shape}")
  return mask


class ConvTokenMixer(nnx.Module):
  """GLU -> lightweight or dynamic depthwise convolution -> output projection (see module doc)."""

  length_bound = False

  def __init__(self, variant: str, *, d_model: int, num_heads: int, kernel_size: int,
               rngs: nnx.Rngs, causal: bool = False, weight_dropout: float = 0.0,
               dtype=jnp.float32):
    if variant not in CONV_VARIANTS:
      raise ValueError(f"unknown convolution '{variant}'; choose from {', '.join(CONV_VARIANTS)}")
    if kernel_size < 1:
      raise ValueError(f"'{variant}' needs kernel_size >= 1, got {kernel_size}")
    if d_model % num_heads:
      raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
    head_dim = d_model // num_heads
    self.variant = variant
    self.num_heads, self.head_dim, self.kernel_size = num_heads, head_dim, kernel_size
    self.causal = causal
    self.offset = kernel_size - 1 if causal else (kernel_size - 1) // 2
    self.glu_value = HeadProjection(d_model, num_heads, head_dim, rngs=rngs, use_bias=True,
                                    dtype=dtype)
    self.glu_gate = HeadProjection(d_model, num_heads, head_dim, rngs=rngs, use_bias=True,
                                   dtype=dtype)
    if variant == "dynamic_conv":
      self.kernel = param(rngs, xavier(0, (1, 2)), (d_model, num_heads, kernel_size),
                          ("embed", "heads", None))
    else:
      self.kernel = param(rngs, xavier(1, 0), (num_heads, kernel_size), ("heads", None))
    self.out = OutputProjection(num_heads, head_dim, d_model, rngs=rngs, dtype=dtype)
    self.dropout = nnx.Dropout(weight_dropout, rngs=rngs) if weight_dropout else None
    self.dtype = dtype
    # nnx.data: a None attribute is otherwise static and init_cache could not assign a Cache.
    self.cached_inputs = nnx.data(None)
    self.cache_index = nnx.data(None)

  def _inputs(self, x):
    """The conv inputs u = GLU(x W_1 + b_1), (B, n, H, d/H)."""
    return self.glu_value(x) * jax.nn.sigmoid(self.glu_gate(x))

  def _taps(self, u):
    """Normalised kernels in float32: (H, K) for lightweight, (B, n, H, K) for dynamic."""
    if self.variant == "dynamic_conv":
      flat = u.reshape(*u.shape[:2], -1)
      logits = jnp.einsum("bnd,dhk->bnhk", flat, self.kernel[...].astype(self.dtype))
    else:
      logits = self.kernel[...]
    weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    return self.dropout(weights) if self.dropout is not None else weights

  def _same_segment(self, segment_ids):
    """(B, n, K) float32: 1 where tap j of slot t reads a slot of t's own segment."""
    n, lo = segment_ids.shape[1], self.offset
    padded = jnp.pad(segment_ids, ((0, 0), (lo, self.kernel_size - 1 - lo)), constant_values=-1)
    return jnp.stack([padded[:, j:j + n] == segment_ids for j in range(self.kernel_size)],
                     axis=-1).astype(jnp.float32)

  def __call__(self, x, *, mask=None, positions=None, segment_ids=None, decode=False,
               return_weights=False):
    """Mixes x (B, n, d) over time; arguments as SynthesizerAttention's (positions unused)."""
    del positions  # Convolutions look at neighbouring slots; see the module doc.
    if return_weights:
      raise ValueError(f"'{self.variant}' convolves and has no attention weights to return")
    if decode:
      return self._decode_step(x, mask)
    n = x.shape[1]
    u = self._inputs(x)
    if mask is not None:
      u = u * token_mask(mask, n, self.variant)[:, :, None, None].astype(u.dtype)
    weights = self._taps(u)
    if segment_ids is not None:
      weights = weights * self._same_segment(segment_ids)[:, :, None, :]
    weights = weights.astype(u.dtype)
    lo = self.offset
    padded = jnp.pad(u, ((0, 0), (lo, self.kernel_size - 1 - lo), (0, 0), (0, 0)))
    # A sum of K shifted slices: no (B, n, K, d) window tensor, and XLA fuses it into one loop.
    y = sum(weights[..., j, None] * padded[:, j:j + n] for j in range(self.kernel_size))
    return self.out(y)

  def init_cache(self, batch: int, length: int, dtype=jnp.float32):
    """Allocates the last K-1 conv inputs (zeros: the padding left of the first step)."""
    del length  # A convolution looks back K-1 steps however long the sequence is.
    if not self.causal:
      raise ValueError(f"'{self.variant}' built with causal=False is centred (it looks ahead) and "
                       f"cannot decode incrementally; build it with causal=True")
    self.cached_inputs = nnx.Cache(
        jnp.zeros((batch, self.kernel_size - 1, self.num_heads, self.head_dim), dtype))
    self.cache_index = nnx.Cache(jnp.zeros((), jnp.int32))

  def _decode_step(self, x, mask):
    if self.cached_inputs is None:
      raise ValueError("decode=True needs a cache: call init_cache(batch, length) first")
    if x.shape[1] != 1:
      raise ValueError(f"decode=True takes one token per step, got {x.shape[1]}")
    index = self.cache_index[...]
    u = self._inputs(x)
    if mask is not None:  # a (B, length) mask over decoding steps, as in attention's decode
      mask = token_mask(mask, mask.shape[1], self.variant)
      keep = jax.lax.dynamic_slice_in_dim(mask, index, 1, axis=1)
      u = u * keep[:, :, None, None].astype(u.dtype)
    window = jnp.concatenate([self.cached_inputs[...].astype(u.dtype), u], axis=1)  # (B, K, H, C)
    weights = self._taps(u)
    weights = weights.reshape(-1, self.num_heads, self.kernel_size).astype(u.dtype)
    y = jnp.einsum("bhk,bkhc->bhc", jnp.broadcast_to(weights, (x.shape[0], *weights.shape[1:])),
                   window)
    self.cached_inputs[...] = window[:, 1:].astype(self.cached_inputs.dtype)
    self.cache_index[...] = index + 1
    return self.out(y[:, None])
