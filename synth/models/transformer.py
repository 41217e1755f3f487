"""The three model families of the paper, each taking its self-attention variant from config.

- DecoderLM: decoder-only language model (LM1B, C4 causal LM, the embedded default).
- EncoderDecoder: translation, summarisation and T5-style text-to-text.
- EncoderClassifier: encoder with mean pooling and a class (or regression) head.

Only self-attention is replaced by the configured variant; encoder-decoder cross-attention stays
dot-product, as in the paper. With `relative_bias`, each stack builds one T5 relative position
bias table and shares it with all of its layers' self-attention (T5 shares one per stack).
Token id 0 is padding everywhere: when segment ids are not given, key masks are derived from
`tokens != 0`.
"""
import jax.numpy as jnp
from flax import nnx

from synth.attention import CrossAttention, RelativePositionBias, make_attention
from synth.models.config import REMAT_POLICIES, ModelConfig
from synth.models.layers import (Embed, FeedForward, LayerNorm, LearnedPositions, OutputHead,
                                 sinusoidal_encoding)
from synth.params import param
from synth.token_ids import PAD_ID


def key_mask(tokens, segment_ids):
  """Key-validity mask (B, n): real tokens are True."""
  return segment_ids > 0 if segment_ids is not None else tokens != PAD_ID


def causal_key_mask(segment_ids):
  """Key mask of causal self-attention: only packed rows need one.

  A decoder's first input is the start token 0, which is also the padding id, so masking by
  token would hide the start token from every query (and leave position 0 with no key at all),
  unlike cached decoding. Right padding needs no key mask under a causal mask: a real query only
  sees earlier, real keys.
  """
  return segment_ids > 0 if segment_ids is not None else None


class TransformerLayer(nnx.Module):
  """Self-attention, optional cross-attention, feed-forward; each a residual sublayer.

  Pre-LN computes x + dropout(f(norm(x))); post-LN computes norm(x + dropout(f(x))).
  """

  def __init__(self, cfg: ModelConfig, *, causal: bool, cross: bool, rngs: nnx.Rngs,
               layer: int = 0, relative_bias: RelativePositionBias | None = None):
    dtype = cfg.compute_dtype
    self.self_attention = make_attention(
        cfg.variant, d_model=cfg.d_model, num_heads=cfg.num_heads, max_len=cfg.max_len,
        rngs=rngs, causal=causal, relative_bias=relative_bias, **cfg.attention_options(layer))
    self.cross_attention = (CrossAttention(cfg.d_model, cfg.num_heads, rngs=rngs, dtype=dtype,
                                           dropout_rate=cfg.attention_dropout_rate,
                                           attention_impl=cfg.attention_impl)
                            if cross else None)
    self.feed_forward = FeedForward(cfg.d_model, cfg.d_ff, rngs=rngs, dtype=dtype,
                                    dropout_rate=cfg.dropout_rate)
    self.norms = nnx.List([LayerNorm(cfg.d_model, rngs=rngs, dtype=dtype)
                           for _ in range(3 if cross else 2)])
    self.dropout = nnx.Dropout(cfg.dropout_rate, rngs=rngs) if cfg.dropout_rate else None
    self.pre_norm = cfg.norm == "pre"
    # Set by synth.inspect on a model it owns, eagerly: a function(kind, weights) that receives
    # what this layer's attention returns with return_weights=True ('self', then 'cross').
    # None for training and decoding, whose computation it leaves untouched.
    self.record_attention = None

  def _residual(self, norm, sublayer, x):
    drop = self.dropout if self.dropout is not None else (lambda y: y)
    if self.pre_norm:
      return x + drop(sublayer(norm(x)))
    return norm(x + drop(sublayer(x)))

  def __call__(self, x, *, mask=None, positions=None, segment_ids=None, memory=None,
               memory_mask=None, memory_segment_ids=None, decode=False):
    record = None if decode else self.record_attention
    x = self._residual(self.norms[0], lambda h: self._recorded(
        "self", record, self.self_attention, h, mask=mask, positions=positions,
        segment_ids=segment_ids, decode=decode), x)
    if self.cross_attention is not None:
      x = self._residual(self.norms[2], lambda h: self._recorded(
          "cross", record, self.cross_attention, h, memory, mask=memory_mask,
          segment_ids=None if decode else segment_ids,
          memory_segment_ids=None if decode else memory_segment_ids), x)
    return self._residual(self.norms[1], self.feed_forward, x)

  @staticmethod
  def _recorded(kind: str, record, attention, *args, **kwargs):
    if record is None:
      return attention(*args, **kwargs)
    y, weights = attention(*args, return_weights=True, **kwargs)
    record(kind, weights)
    return y


# transform_metadata of every nnx.vmap / nnx.scan over stacked layers: each parameter's stacked
# axis is named None (replicated) in its logical axes, and is taken out again inside the scan,
# where the layer sees its own (unstacked) parameters.
STACKED_AXIS = {nnx.PARTITION_NAME: None}


def stacked_layers(cfg: ModelConfig, num_layers: int, *, causal: bool, cross: bool,
                   rngs: nnx.Rngs) -> TransformerLayer:
  """One TransformerLayer whose every variable has a leading axis of num_layers (scan_layers).

  nnx.vmap over split rngs builds the layers at once, each from its own keys; Flax's
  transform_metadata gives the stacked axis the logical name None (replicated: each device holds
  every layer of its shard).
  """
  @nnx.split_rngs(splits=num_layers)
  @nnx.vmap(in_axes=(0,), out_axes=0, transform_metadata=STACKED_AXIS)
  def create(rngs):
    return TransformerLayer(cfg, causal=causal, cross=cross, rngs=rngs)

  return create(rngs)


class TransformerStack(nnx.Module):
  """num_layers TransformerLayers plus the final norm of pre-LN models.

  With cfg.scan_layers the layers are one stacked TransformerLayer run by nnx.scan: XLA then
  compiles the layer once instead of num_layers times, so compile time stops growing with depth,
  at the price of a loop the compiler cannot fuse across layers.
  """

  def __init__(self, cfg: ModelConfig, num_layers: int, *, causal: bool, cross: bool,
               rngs: nnx.Rngs):
    self.scan = cfg.scan_layers
    self.num_layers = num_layers
    if self.scan:
      self.layers = stacked_layers(cfg, num_layers, causal=causal, cross=cross, rngs=rngs)
    else:
      # One table for the whole stack, held (shared) by every layer's self-attention.
      bias = (RelativePositionBias(cfg.num_heads, bidirectional=not causal, rngs=rngs)
              if cfg.relative_bias else None)
      self.layers = nnx.List([TransformerLayer(cfg, causal=causal, cross=cross, rngs=rngs,
                                               layer=i, relative_bias=bias)
                              for i in range(num_layers)])
    self.final_norm = (LayerNorm(cfg.d_model, rngs=rngs, dtype=cfg.compute_dtype)
                       if cfg.norm == "pre" else None)
    self.remat = cfg.remat
    self.remat_policy = cfg.remat_policy

  def __call__(self, x, *, decode=False, **kwargs):
    def run(layer, h):
      if self.remat and not decode:
        policy = REMAT_POLICIES[self.remat_policy]
        return nnx.remat(lambda lyr, h: lyr(h, **kwargs), policy=policy)(layer, h)
      return layer(h, decode=decode, **kwargs)

    if self.scan:
      x = nnx.scan(lambda h, layer: run(layer, h), in_axes=(nnx.Carry, 0),
                   out_axes=nnx.Carry, transform_metadata=STACKED_AXIS)(x, self.layers)
    else:
      for layer in self.layers:
        x = run(layer, x)
    return self.final_norm(x) if self.final_norm is not None else x

  def init_cache(self, batch: int, length: int, dtype):
    if self.scan:
      nnx.vmap(lambda layer: layer.self_attention.init_cache(batch, length, dtype),
               in_axes=0, out_axes=0, axis_size=self.num_layers,
               transform_metadata=STACKED_AXIS)(self.layers)
      return
    for layer in self.layers:
      layer.self_attention.init_cache(batch, length, dtype)


class Embedder(nnx.Module):
  """Tokens + absolute positions -> dropout(embedding), the input of every stack."""

  def __init__(self, cfg: ModelConfig, embed: Embed, *, rngs: nnx.Rngs):
    self.embed = embed
    self.learned = (LearnedPositions(cfg.max_len, cfg.d_model, rngs=rngs,
                                     dtype=cfg.compute_dtype)
                    if cfg.positions == "learned" else None)
    self.dropout = nnx.Dropout(cfg.dropout_rate, rngs=rngs) if cfg.dropout_rate else None
    self.d_model = cfg.d_model
    self.max_len = cfg.max_len
    self.dtype = cfg.compute_dtype

  def check_length(self, length: int):
    """Learned positions have max_len rows: a longer input is an error (a gather past the table
    would silently give NaN)."""
    if self.learned is not None and length > self.max_len:
      raise ValueError(
          f"learned position embeddings support sequences of at most max_len={self.max_len}, got "
          f"length {length}; raise max_len, shorten the input or use sinusoidal positions")

  def __call__(self, tokens, positions):
    self.check_length(tokens.shape[1])
    x = self.embed(tokens)
    if self.learned is not None:
      x = x + self.learned(positions)
    else:
      x = x + sinusoidal_encoding(positions, self.d_model, self.dtype)
    return self.dropout(x) if self.dropout is not None else x


def default_positions(tokens):
  return jnp.broadcast_to(jnp.arange(tokens.shape[1], dtype=jnp.int32), tokens.shape)


class DecodeState(nnx.Module):
  """The position of the next token during incremental decoding (shared by all layers)."""

  def __init__(self):
    self.index = nnx.data(None)

  def reset(self):
    self.index = nnx.Cache(jnp.zeros((), jnp.int32))

  def next_positions(self, batch: int):
    if self.index is None:
      raise ValueError("decode=True needs a cache: call init_cache(batch, length) first")
    positions = jnp.full((batch, 1), self.index[...], jnp.int32)
    self.index[...] = self.index[...] + 1
    return positions


class DecoderLM(nnx.Module):
  """Decoder-only Transformer language model: tokens (B, n) -> next-token logits (B, n, V)."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.config = cfg
    embed = Embed(cfg.vocab_size, cfg.d_model, rngs=rngs, dtype=cfg.compute_dtype)
    self.embedder = Embedder(cfg, embed, rngs=rngs)
    self.decoder = TransformerStack(cfg, cfg.num_decoder_layers, causal=True, cross=False,
                                    rngs=rngs)
    self.head = (None if cfg.tie_embeddings else
                 OutputHead(cfg.d_model, cfg.vocab_size, rngs=rngs, dtype=cfg.compute_dtype))
    self.decode_state = DecodeState()

  def __call__(self, tokens, *, positions=None, segment_ids=None, decode=False):
    """Logits (float32) for every position; with decode=True, tokens is (B, 1) and uses the cache.

    positions/segment_ids describe packed rows (several examples per row); None = one example.
    """
    if decode:
      x = self.embedder(tokens, self.decode_state.next_positions(tokens.shape[0]))
      x = self.decoder(x, decode=True)
    else:
      x = self.embedder(tokens, default_positions(tokens) if positions is None else positions)
      x = self.decoder(x, mask=causal_key_mask(segment_ids), positions=positions,
                       segment_ids=segment_ids)
    logits = self.embedder.embed.attend(x) if self.head is None else self.head(x)
    return logits.astype(jnp.float32)

  def init_cache(self, batch: int, length: int, dtype=jnp.float32):
    self.embedder.check_length(length)
    self.decode_state.reset()
    self.decoder.init_cache(batch, length, dtype)


class EncoderDecoder(nnx.Module):
  """Encoder-decoder Transformer: (inputs, shifted targets) -> target logits (B, m, V)."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.config = cfg
    embed = Embed(cfg.vocab_size, cfg.d_model, rngs=rngs, dtype=cfg.compute_dtype)
    # Tied: one table for source, target and output; untied: separate target table and head.
    target_embed = (embed if cfg.tie_embeddings else
                    Embed(cfg.vocab_size, cfg.d_model, rngs=rngs, dtype=cfg.compute_dtype))
    self.encoder_embedder = Embedder(cfg, embed, rngs=rngs)
    self.decoder_embedder = Embedder(cfg, target_embed, rngs=rngs)
    self.encoder = TransformerStack(cfg, cfg.num_encoder_layers, causal=False, cross=False,
                                    rngs=rngs)
    self.decoder = TransformerStack(cfg, cfg.num_decoder_layers, causal=True, cross=True,
                                    rngs=rngs)
    self.head = (None if cfg.tie_embeddings else
                 OutputHead(cfg.d_model, cfg.vocab_size, rngs=rngs, dtype=cfg.compute_dtype))
    self.decode_state = DecodeState()

  def encode(self, inputs, *, positions=None, segment_ids=None):
    x = self.encoder_embedder(inputs, default_positions(inputs) if positions is None
                              else positions)
    return self.encoder(x, mask=key_mask(inputs, segment_ids), positions=positions,
                        segment_ids=segment_ids)

  def decode(self, targets_in, memory, memory_mask, *, positions=None, segment_ids=None,
             memory_segment_ids=None, decode=False):
    """Target logits given the encoder output `memory` and its key mask (B, k)."""
    if decode:
      x = self.decoder_embedder(targets_in, self.decode_state.next_positions(targets_in.shape[0]))
      x = self.decoder(x, memory=memory, memory_mask=memory_mask, decode=True)
    else:
      x = self.decoder_embedder(targets_in, default_positions(targets_in) if positions is None
                                else positions)
      x = self.decoder(x, mask=causal_key_mask(segment_ids), positions=positions,
                       segment_ids=segment_ids, memory=memory, memory_mask=memory_mask,
                       memory_segment_ids=memory_segment_ids)
    logits = self.decoder_embedder.embed.attend(x) if self.head is None else self.head(x)
    return logits.astype(jnp.float32)

  def __call__(self, inputs, targets_in, *, inputs_positions=None, inputs_segment_ids=None,
               targets_positions=None, targets_segment_ids=None):
    memory = self.encode(inputs, positions=inputs_positions, segment_ids=inputs_segment_ids)
    return self.decode(targets_in, memory, key_mask(inputs, inputs_segment_ids),
                       positions=targets_positions, segment_ids=targets_segment_ids,
                       memory_segment_ids=inputs_segment_ids)

  def init_cache(self, batch: int, length: int, dtype=jnp.float32):
    self.decoder_embedder.check_length(length)
    self.decode_state.reset()
    self.decoder.init_cache(batch, length, dtype)


class EncoderClassifier(nnx.Module):
  """Encoder + mean pooling over real tokens + linear head: tokens (B, n) -> (B, num_classes)."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.config = cfg
    embed = Embed(cfg.vocab_size, cfg.d_model, rngs=rngs, dtype=cfg.compute_dtype)
    self.embedder = Embedder(cfg, embed, rngs=rngs)
    self.encoder = TransformerStack(cfg, cfg.num_encoder_layers, causal=False, cross=False,
                                    rngs=rngs)
    self.kernel = param(rngs, nnx.initializers.xavier_uniform(), (cfg.d_model, cfg.num_classes),
                        ("embed", "classes"))
    self.bias = param(rngs, nnx.initializers.zeros, (cfg.num_classes,), ("classes",))

  def __call__(self, tokens, *, positions=None, segment_ids=None):
    mask = key_mask(tokens, segment_ids)
    x = self.embedder(tokens, default_positions(tokens) if positions is None else positions)
    x = self.encoder(x, mask=mask, positions=positions, segment_ids=segment_ids)
    weights = mask.astype(jnp.float32)[..., None]
    pooled = (x.astype(jnp.float32) * weights).sum(1) / jnp.maximum(weights.sum(1), 1.0)
    return pooled @ self.kernel[...] + self.bias[...]


MODELS = {"decoder": DecoderLM, "encoder_decoder": EncoderDecoder,
          "encoder_classifier": EncoderClassifier}


def make_model(model_config, *, rngs: nnx.Rngs) -> nnx.Module:
  """Builds the model named by model_config.kind (a ModelConfig, ConfigDict or dict)."""
  cfg = (model_config if isinstance(model_config, ModelConfig)
         else ModelConfig.from_config(model_config))
  return MODELS[cfg.kind](cfg, rngs=rngs)
