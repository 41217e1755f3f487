"""Config strings -> attention modules.

A variant is one of VARIANTS or several of them joined with '+' ('random+vanilla'), which mixes
their logits (see mixture.py). Cross-attention is not built here: it stays dot-product.
"""
import jax.numpy as jnp
from flax import nnx

from synth.attention.core import SynthesizerAttention
from synth.attention.dense import DenseLogits, FactorizedDenseLogits
from synth.attention.random import FactorizedRandomLogits, RandomLogits
from synth.attention.vanilla import DotProductLogits

# The base variant names; any '+'-joined combination of distinct names is a mixture.
VARIANTS = ("vanilla", "dense", "random", "fixed_random", "factorized_dense", "factorized_random")


def parse_variant(variant: str) -> tuple[str, ...]:
  """Splits 'a+b' into its components, with a one-line error for anything unknown or repeated."""
  parts = tuple(p.strip() for p in str(variant).split("+"))
  for p in parts:
    if p not in VARIANTS:
      raise ValueError(f"unknown attention variant '{p}' in '{variant}'; choose from "
                       f"{', '.join(VARIANTS)} or a '+'-joined mixture such as 'random+vanilla'")
  if len(set(parts)) != len(parts):
    raise ValueError(f"attention variant '{variant}' repeats a component")
  return parts


def is_length_bound(variant: str) -> bool:
  """True if the variant has parameters sized by max_len (every variant except plain vanilla)."""
  return any(p != "vanilla" for p in parse_variant(variant))


def make_attention(variant: str, *, d_model: int, num_heads: int, max_len: int, rngs: nnx.Rngs,
                   causal: bool = False, mixture: str = "softmax", factor_a: int | None = None,
                   factor_b: int | None = None, factor_k: int = 8, dropout_rate: float = 0.0,
                   dtype=jnp.float32) -> SynthesizerAttention:
  """Builds self-attention for `variant`.

  Args:
    variant: a name in VARIANTS or a '+'-joined mixture of them.
    d_model, num_heads: model width and heads; head_dim = d_model // num_heads.
    max_len: N, the longest sequence the synthetic parameters are sized for (a hard limit for
      every variant but vanilla).
    rngs: parameter (and dropout) randomness.
    causal: mask future keys (decoder self-attention).
    mixture: 'sum', 'sigmoid' or 'softmax' weighting of a mixture's logits.
    factor_a, factor_b: factorized dense sizes, a * b = max_len (default: most balanced).
    factor_k: factorized random rank (the paper's k = 8).
    dropout_rate: dropout on the attention weights.
    dtype: compute dtype (parameters stay float32; the softmax is always float32).
  """
  parts = parse_variant(variant)
  if d_model % num_heads:
    raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
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
                              dropout_rate=dropout_rate, dtype=dtype)
