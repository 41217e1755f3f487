"""ModelConfig: the typed, validated view of `config.model` that model constructors take."""
import dataclasses

import jax
import jax.numpy as jnp

from synth.attention import WEIGHTINGS, is_length_bound, parse_variant, takes_relative_bias
from synth.attention.causal_blocks import check_block
from synth.attention.fused import IMPLS, check_impl
from synth.config import ConfigError, ModelFields, check_config
from synth.kinds import MODEL_KINDS, model_kind

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# model.remat_policy -> the jax.checkpoint policy: what a rematerialised layer keeps from its
# forward pass for the backward pass; everything else is recomputed there.
REMAT_POLICIES = {
    # Only the layer's input: the least memory; the backward pass reruns the whole layer.
    "full": None,
    # Every matmul output, attention logits and weights.V included: memory grows with n^2 per
    # head, but only elementwise work (norms, softmax, activations, dropout) is recomputed.
    "dots": jax.checkpoint_policies.dots_saveable,
    # Weight matmuls only (projections, feed-forward), not batched token-token products: memory
    # linear in n; recomputes the attention products and the elementwise work.
    "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


@dataclasses.dataclass(frozen=True)
class ModelConfig(ModelFields):
  """config.model as the model constructors take it: the fields (and their meaning) are
  synth.config.ModelFields'; this adds the checks that need synth.attention, and helpers."""

  def __post_init__(self):
    def check(name, value, choices):
      if value not in choices:
        raise ValueError(f"model.{name}='{value}' is not one of {', '.join(choices)}")
    check("kind", self.kind, tuple(MODEL_KINDS))
    check("positions", self.positions, ("sinusoidal", "learned"))
    check("norm", self.norm, ("pre", "post"))
    check("dtype", self.dtype, tuple(DTYPES))
    check("mixture", self.mixture, WEIGHTINGS)
    check("remat_policy", self.remat_policy, tuple(REMAT_POLICIES))
    check("attention_impl", self.attention_impl, IMPLS)
    if self.attention_impl == "cudnn" and self.dtype == "float32":
      raise ValueError("model.attention_impl='cudnn' needs model.dtype='bfloat16' (cuDNN flash "
                       "attention takes bf16/fp16 only); use attention_impl='xla' for float32")
    try:
      check_impl(self.attention_impl, dropout_rate=self.attention_dropout_rate)
      check_block(self.causal_block)
    except ValueError as e:
      raise ValueError(f"model.{e}") from None
    parse_variant(self.variant)
    # A tuple even when a config file wrote a list: the dataclass is frozen and compared by value.
    sizes = self.conv_kernel_sizes
    sizes = (sizes,) if isinstance(sizes, int) else sizes
    object.__setattr__(self, "conv_kernel_sizes", tuple(int(k) for k in sizes))
    if not self.conv_kernel_sizes or min(self.conv_kernel_sizes) < 1:
      raise ValueError(f"model.conv_kernel_sizes={self.conv_kernel_sizes} needs at least one "
                       f"size, each >= 1")
    if self.relative_bias and not takes_relative_bias(self.variant):
      raise ValueError(f"model.relative_bias adds to attention logits; model.variant="
                       f"'{self.variant}' has none")
    if self.scan_layers and self.relative_bias:
      raise ValueError("model.scan_layers cannot scan layers that share one relative position "
                       "bias table (model.relative_bias); turn one of them off")
    if self.scan_layers and len(set(self.conv_kernel_sizes)) > 1:
      raise ValueError(f"model.scan_layers needs the same layer at every depth, but "
                       f"model.conv_kernel_sizes={self.conv_kernel_sizes} differ by layer")
    if self.linformer_k < 1:
      raise ValueError(f"model.linformer_k must be >= 1, got {self.linformer_k}")
    if self.variant == "linformer" and model_kind(self.kind).causal:
      bidirectional = [k.name for k in MODEL_KINDS.values() if not k.causal]
      raise ValueError(f"model.variant='linformer' cannot be causal, so it needs model.kind "
                       f"{' or '.join(repr(k) for k in bidirectional)}, got '{self.kind}'")
    if self.d_model % self.num_heads:
      raise ValueError(f"model.d_model={self.d_model} is not divisible by "
                       f"model.num_heads={self.num_heads}")

  @classmethod
  def from_config(cls, model_config) -> "ModelConfig":
    """Builds from an ml_collections ConfigDict or a dict with exactly these fields."""
    values = dict(model_config)
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise ValueError(f"unknown model config fields: {', '.join(unknown)}")
    return cls(**values)

  @classmethod
  def for_run(cls, config) -> "ModelConfig":
    """The model config of a whole run config, after every check that needs no data or devices:
    synth.config.check_config's, the model's own, and that the rows the run reads fit a
    length-bound variant's max_len. Every failure is a one-line ConfigError, raised before any
    work starts or any file is written."""
    check_config(config)
    try:
      model = cls.from_config(config.model)
    except ValueError as e:
      raise ConfigError(str(e)) from None
    # The row lengths the model reads (an encoder-decoder may size each side on its own).
    for name, length in model_kind(model.kind).row_lengths(config).items():
      if is_length_bound(model.variant) and length > model.max_len:
        raise ConfigError(
            f"{name}={length} is longer than model.max_len={model.max_len}, the most that "
            f"attention variant '{model.variant}' supports; lower {name} or raise model.max_len")
    return model

  @property
  def compute_dtype(self):
    return DTYPES[self.dtype]

  def attention_options(self, layer: int = 0) -> dict:
    """Keyword options for synth.attention.make_attention of self-attention layer `layer`.

    Only the conv kernel size depends on the layer: conv_kernel_sizes[min(layer, len - 1)], so
    Wu et al.'s [3, 7, 15, 31, 31, 31, 31] gives their 7 encoder and (its first 6) decoder sizes.
    """
    kernel_size = self.conv_kernel_sizes[min(layer, len(self.conv_kernel_sizes) - 1)]
    return dict(mixture=self.mixture, factor_a=self.factor_a or None,
                factor_b=self.factor_b or None, factor_k=self.factor_k,
                dropout_rate=self.attention_dropout_rate, dtype=self.compute_dtype,
                kernel_size=kernel_size, linformer_k=self.linformer_k,
                attention_impl=self.attention_impl, causal_block=self.causal_block)
