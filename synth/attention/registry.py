"""Config strings -> attention modules.

A variant is one of VARIANTS or several of them joined with '+' ('random+vanilla'), which mixes
their logits (see mixture.py), or one of TOKEN_MIXERS alone: the paper's baselines that replace
the whole attention sublayer ('lightweight_conv', 'dynamic_conv', 'linformer'). Those have no
logit matrix over the tokens to mix, so joining them with '+' is an error. T5's relative position
bias is not a variant but an option (`relative_bias`) that adds to any logit variant, mixtures
included. Cross-attention is not built here: it stays dot-product.
"""
import jax.numpy as jnp
from flax import nnx

from synth.attention.causal_blocks import AUTO
from synth.attention.conv import CONV_VARIANTS, ConvTokenMixer
from synth.attention.core import SynthesizerAttention
from synth.attention.dense import DenseLogits, FactorizedDenseLogits
from synth.attention.linformer import LinformerAttention
from synth.attention.random import FactorizedRandomLogits, RandomLogits
from synth.attention.relative import RelativePositionBias
from synth.attention.vanilla import DotProductLogits

# The base variant names; any '+'-joined combination of distinct names is a mixture.
VARIANTS = ("vanilla", "dense", "random", "fixed_random", "factorized_dense", "factorized_random")
# Whole token mixers (the paper's baselines): each stands alone, never in a '+' mixture.
TOKEN_MIXERS = CONV_VARIANTS + ("linformer",)
# Variants whose parameters are not sized by max_len.
_UNBOUNDED = ("vanilla",) + CONV_VARIANTS


def parse_variant(variant: str) -> tuple[str, ...]:
  """Splits 'a+b' into its components, with a one-line error for anything unknown or repeated."""
  parts = tuple(p.strip() for p in str(variant).split("+"))
  for p in parts:
    if p not in VARIANTS and p not in TOKEN_MIXERS:
      raise ValueError(f"unknown attention variant '{p}' in '{variant}'; choose from "
                       f"{', '.join(VARIANTS)} or a '+'-joined mixture such as 'random+vanilla', "
                       f"or one of {', '.join(TOKEN_MIXERS)} alone")
    if p in TOKEN_MIXERS and len(parts) > 1:
      raise ValueError(f"'{p}' replaces the whole attention layer and has no logits to mix; use "
                       f"it alone, not in '{variant}'")
  if len(set(parts)) != len(parts):
    raise ValueError(f"attention variant '{variant}' repeats a component")
  return parts


def is_length_bound(variant: str) -> bool:
  """True if the variant has parameters sized by max_len (all but vanilla and the convolutions)."""
  return any(p not in _UNBOUNDED for p in parse_variant(variant))


def takes_relative_bias(variant: str) -> bool:
  """True if the variant has attention logits a relative position bias can be added to."""
  return parse_variant(variant)[0] not in TOKEN_MIXERS


def make_attention(variant: str, *, d_model: int, num_heads: int, max_len: int, rngs: nnx.Rngs,
                   causal: bool = False, mixture: str = "softmax", factor_a: int | None = None,
                   factor_b: int | None = None, factor_k: int = 8, dropout_rate: float = 0.0,
                   dtype=jnp.float32, kernel_size: int = 7, linformer_k: int = 32,
                   relative_bias: RelativePositionBias | bool | None = None,
                   attention_impl: str = "einsum", causal_block: int = AUTO
                   ) -> SynthesizerAttention | ConvTokenMixer | LinformerAttention:
  """Builds self-attention (or the token mixer that replaces it) for `variant`.

  Every module returned takes (x, *, mask, positions, segment_ids, decode, return_weights) and
  has init_cache(batch, length, dtype), so models need not know which one they hold.

  Args:
    variant: a name in VARIANTS, a '+'-joined mixture of them, or one of TOKEN_MIXERS.
    d_model, num_heads: model width and heads; head_dim = d_model // num_heads.
    max_len: N, the longest sequence the synthetic parameters are sized for (a hard limit for
      every variant but vanilla).
    rngs: parameter (and dropout) randomness.
    causal: mask future keys (decoder self-attention).
    mixture: 'sum', 'sigmoid' or 'softmax' weighting of a mixture's logits.
    factor_a, factor_b: factorized dense sizes, a * b = max_len (default: most balanced).
    factor_k: factorized random rank (the paper's k = 8).
    dropout_rate: dropout on the attention weights (on the normalised kernel taps of the
      convolutions: Wu et al.'s weight dropout).
    dtype: compute dtype (parameters stay float32; the softmax is always float32).
    kernel_size: K of lightweight_conv / dynamic_conv.
    linformer_k: k, the projected length of linformer's keys and values.
    attention_impl: 'einsum', 'xla' or 'cudnn': how a dot-product component is computed
      (synth.attention.fused); token mixers and variants without vanilla ignore it.
    causal_block: block size of the blocked lower-triangular P V of causal shared-weight
      attention: 0 dense, -1 automatic (synth.attention.causal_blocks).
    relative_bias: T5's relative position bias added to the logits: a RelativePositionBias to
      share (bidirectional exactly when not causal), True for a new one owned by this layer, or
      None/False for none.
  """
  parts = parse_variant(variant)
  if d_model % num_heads:
    raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
  if relative_bias is not None and relative_bias is not False:
    if not takes_relative_bias(variant):
      raise ValueError(f"'{variant}' has no attention logits to add a relative position bias to")
    if relative_bias is True:
      relative_bias = RelativePositionBias(num_heads, bidirectional=not causal, rngs=rngs)
    elif relative_bias.bidirectional == causal:
      raise ValueError(f"a {'causal' if causal else 'bidirectional'} layer needs a "
                       f"{'unidirectional' if causal else 'bidirectional'} relative position bias")
  else:
    relative_bias = None
  if parts[0] in CONV_VARIANTS:
    return ConvTokenMixer(parts[0], d_model=d_model, num_heads=num_heads, kernel_size=kernel_size,
                          rngs=rngs, causal=causal, weight_dropout=dropout_rate, dtype=dtype)
  if parts[0] == "linformer":
    return LinformerAttention(d_model=d_model, num_heads=num_heads, max_len=max_len, rngs=rngs,
                              k=linformer_k, causal=causal, dropout_rate=dropout_rate,
                              dtype=dtype)
  head_dim = d_model // num_heads
  common = dict(d_model=d_model, num_heads=num_heads, head_dim=head_dim, max_len=max_len,
                rngs=rngs, dtype=dtype)
  builders = {
      "vanilla": lambda: DotProductLogits(**common),
      "dense": lambda: DenseLogits(**common),
      "random": lambda: RandomLogits(**common),
      "fixed_random": lambda: RandomLogits(fixed=True, **common),
      "factorized_dense": lambda: FactorizedDenseLogits(factor_a=factor_a, factor_b=factor_b,
                                                        **common),
      "factorized_random": lambda: FactorizedRandomLogits(factor_k=factor_k, **common),
  }
  components = {p: builders[p]() for p in parts}
  return SynthesizerAttention("+".join(parts), components, d_model=d_model, num_heads=num_heads,
                              max_len=max_len, rngs=rngs, causal=causal, mixture=mixture,
                              dropout_rate=dropout_rate, dtype=dtype,
                              relative_bias=relative_bias, attention_impl=attention_impl,
                              causal_block=causal_block)
