"""Dot-product attention through jax.nn.dot_product_attention (model.attention_impl).

Three implementations of softmax(Q K^T + bias + mask) V for layers with a dot-product component:

  einsum  our own einsums (core.py, vanilla.py): every (batch, heads, q, k) tensor is written out.
          The default, the only path that can return attention weights or drop them out.
  xla     jax.nn.dot_product_attention(implementation='xla'): the same math in one call that XLA
          may fuse; any bias, any boolean mask. Equal to einsum to float tolerance (tested).
  cudnn   cuDNN flash attention (GPU only, bf16/fp16 inputs): never writes the score tensor, and
          with is_causal it skips the masked upper triangle, so a causal decoder pays about half
          of QK^T and of P V. Boolean masks (padding, packed segments) are folded by JAX into an
          additive (B, 1, q, k) bias in the compute dtype, which cuDNN reads, so only a causal
          mask is free; a bias needs even q and k lengths in training, and head_dim <= 128 (256
          on Hopper) and a multiple of 8.

A mixture that contains vanilla, such as random+vanilla, mixes its LOGITS before the softmax:
alpha_v (Q K^T) + sum_m alpha_m S_m. The vanilla weight alpha_v scales the queries and the other
components' weighted logits enter as the kernel's `bias`, so the mixture stays one softmax. (With
cudnn that bias is a dense (1|B, heads, q, k) tensor in bf16: it is read, not recomputed, and the
logits lose float32 precision before the softmax.) Variants without a dot-product component
(Random, Dense, ...) have no Q K^T to fuse and ignore the setting; encoder-decoder cross-attention
honours it.
"""
import jax
import jax.numpy as jnp

IMPLS = ("einsum", "xla", "cudnn")


def check_impl(impl: str, *, dropout_rate: float = 0.0) -> str:
  """Raises a one-line error for an unknown implementation or one that cannot drop weights out."""
  if impl not in IMPLS:
    raise ValueError(f"attention_impl='{impl}' is not one of {', '.join(IMPLS)}")
  if impl != "einsum" and dropout_rate:
    raise ValueError(f"attention_impl='{impl}' has no attention-weight dropout "
                     f"(jax.nn.dot_product_attention takes none); set the attention dropout rate "
                     f"to 0 or use attention_impl='einsum'")
  return impl


def fused_attention(q, k, v, *, impl: str, bias=None, allowed=None, causal: bool = False):
  """softmax(q k^T + bias, masked) v with jax.nn.dot_product_attention.

  Args:
    q: queries (B, T, heads, d_h), already scaled (and weighted by a mixture's alpha_v).
    k, v: keys and values (B, S, heads, d_h); cast to q's dtype, which the kernels require.
    impl: 'xla' or 'cudnn'.
    bias: None or float logits broadcastable to (B, heads, T, S), added before the softmax.
    allowed: None or a boolean (B|1, 1|heads, T, S) mask from masks.attention_allowed, causal
      part excluded (pass causal instead: cuDNN then skips the masked half).
    causal: query i attends keys j <= i only.

  Returns (B, T, heads, d_h) in q's dtype.
  """
  k, v = k.astype(q.dtype), v.astype(q.dtype)
  if bias is not None and impl == "cudnn":
    bias = bias.astype(q.dtype)  # cuDNN adds the bias in the inputs' dtype
  if allowed is not None:
    allowed = jnp.broadcast_to(allowed, (allowed.shape[0], 1, q.shape[1], k.shape[1]))
  return jax.nn.dot_product_attention(q, k, v, bias=bias, mask=allowed, scale=1.0,
                                      is_causal=causal, implementation=impl)
