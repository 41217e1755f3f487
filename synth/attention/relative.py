"""T5's relative position bias: a learned scalar per (distance bucket, head) added to the logits.

T5 (Raffel et al. 2020) has no absolute position embeddings in attention; instead every
self-attention logit gets b_h[bucket(pos_k - pos_q)]. Distances below max_exact = buckets / 2
(per direction) get a bucket each; longer ones share logarithmically wider buckets up to
max_distance, beyond which everything falls into the last bucket. Encoders are bidirectional
(half the buckets for keys before the query, half for keys after it); decoders are
unidirectional (future keys are masked anyway, so they all share bucket 0 with distance 0).

T5 keeps ONE table per stack and adds it in every layer: the model builds one
RelativePositionBias per stack and hands the same module to every layer's attention
(synth.models.transformer), so the table is one shared parameter, counted and trained once. The
paper's T5 experiments (GLUE/SuperGLUE, R+V) therefore add it to mixed synthesizer logits too.

Distances are between POSITIONS, so packed rows use each example's own positions, and during
incremental decoding the query's position is the cache index and key slot j holds position j.
"""
import jax.numpy as jnp
import numpy as np
from flax import nnx

from synth.params import param


def relative_position_bucket(relative_position, *, bidirectional: bool, num_buckets: int = 32,
                             max_distance: int = 128):
  """T5's bucket of each relative position (= key position - query position), int32.

  Exactly T5's (t5x) relative_position_bucket, including its float32 epsilon: the epsilon puts
  distances that are exact powers of the bucket growth (e.g. 16 with the defaults, whose bucket
  boundary is log(2)/log(16) * 8 = 2 exactly) on the mathematically correct side of the floor.
  """
  n = -jnp.asarray(relative_position, jnp.int32)
  bucket = jnp.zeros_like(n)
  if bidirectional:
    num_buckets //= 2
    bucket = bucket + (n < 0).astype(jnp.int32) * num_buckets
    n = jnp.abs(n)
  else:
    n = jnp.maximum(n, 0)
  max_exact = num_buckets // 2
  log_ratio = (jnp.log(n.astype(jnp.float32) / max_exact + np.finfo(np.float32).eps)
               / np.log(max_distance / max_exact))
  large = max_exact + (log_ratio * (num_buckets - max_exact)).astype(jnp.int32)
  large = jnp.minimum(large, num_buckets - 1)
  return bucket + jnp.where(n < max_exact, n, large)


class RelativePositionBias(nnx.Module):
  """A (buckets, heads) table that turns query/key positions into an additive logit bias."""

  def __init__(self, num_heads: int, *, bidirectional: bool, rngs: nnx.Rngs,
               num_buckets: int = 32, max_distance: int = 128):
    max_exact = (num_buckets // 2 if bidirectional else num_buckets) // 2
    if max_exact < 1 or max_distance <= max_exact:
      raise ValueError(f"relative position bias needs at least one exact bucket per direction and "
                       f"max_distance above it, got num_buckets={num_buckets}, "
                       f"max_distance={max_distance}")
    self.bidirectional = bidirectional
    self.num_buckets, self.max_distance = num_buckets, max_distance
    # t5x's default_embed_init: normal with variance 1 / fan-in, fan-in being the heads axis.
    init = nnx.initializers.variance_scaling(1.0, "fan_in", "normal", in_axis=1, out_axis=0)
    self.table = param(rngs, init, (num_buckets, num_heads), (None, "heads"))

  def __call__(self, query_positions, key_positions):
    """Bias (B|1, heads, q, k) in float32 for positions (B|1, q) and (B|1, k)."""
    relative = key_positions[:, None, :] - query_positions[:, :, None]
    buckets = relative_position_bucket(relative, bidirectional=self.bidirectional,
                                       num_buckets=self.num_buckets,
                                       max_distance=self.max_distance)
    bias = jnp.take(self.table[...], buckets, axis=0)  # (B|1, q, k, heads)
    return jnp.moveaxis(bias, -1, 1).astype(jnp.float32)
