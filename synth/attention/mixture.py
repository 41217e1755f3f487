"""Mixture weights alpha for attention variants joined with '+' (e.g. 'random+vanilla').

Mixtures mix LOGITS inside one softmax: softmax(sum_m alpha_m^h S_m + mask) V. Three weightings:
  sum:     alpha_m = 1 for every component (the authors' Long Range Arena code).
  sigmoid: exactly two components, one learned scalar a per layer initialised at 0:
           (1 - sigmoid(a)) S_1 + sigmoid(a) S_2 (the authors' Mesh TensorFlow code).
  softmax: learned per head and layer, alpha^h = softmax(w^h) over components, initialised
           uniform (the paper's equation). The default.
"""
import jax
import jax.numpy as jnp
from flax import nnx

from synth.params import param

WEIGHTINGS = ("sum", "sigmoid", "softmax")


class MixtureWeights(nnx.Module):
  """Produces alpha with shape (components, heads)."""

  def __init__(self, num_components: int, num_heads: int, weighting: str, *, rngs: nnx.Rngs):
    if weighting not in WEIGHTINGS:
      raise ValueError(f"unknown mixture weighting '{weighting}'; choose from {WEIGHTINGS}")
    if weighting == "sigmoid" and num_components != 2:
      raise ValueError(f"mixture weighting 'sigmoid' mixes exactly 2 components, got "
                       f"{num_components}; use 'softmax' or 'sum'")
    self.weighting = weighting
    self.num_components, self.num_heads = num_components, num_heads
    zeros = nnx.initializers.zeros
    if weighting == "sigmoid":
      self.logit = param(rngs, zeros, (), ())
    elif weighting == "softmax":
      self.logit = param(rngs, zeros, (num_components, num_heads), (None, "heads"))
    else:
      self.logit = None

  def __call__(self):
    if self.weighting == "sum":
      return jnp.ones((self.num_components, self.num_heads), jnp.float32)
    if self.weighting == "sigmoid":
      s = jax.nn.sigmoid(self.logit[...])
      return jnp.broadcast_to(jnp.stack([1.0 - s, s])[:, None], (2, self.num_heads))
    return jax.nn.softmax(self.logit[...], axis=0)
