"""ModelConfig: the typed, validated view of `config.model` that model constructors take."""
import dataclasses

import jax.numpy as jnp

from synth.attention import WEIGHTINGS, parse_variant

KINDS = ("decoder", "encoder_decoder", "encoder_classifier")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Architecture hyper-parameters; field meanings are documented in synth/config.py."""
  kind: str = "decoder"
  variant: str = "vanilla"
  mixture: str = "softmax"
  factor_a: int = 0
  factor_b: int = 0
  factor_k: int = 8
  vocab_size: int = 32000
  d_model: int = 512
  num_heads: int = 8
  d_ff: int = 2048
  num_encoder_layers: int = 6
  num_decoder_layers: int = 6
  max_len: int = 256
  positions: str = "sinusoidal"
  norm: str = "pre"
  tie_embeddings: bool = True
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.0
  dtype: str = "float32"
  num_classes: int = 2
  remat: bool = False

  def __post_init__(self):
    def check(name, value, choices):
      if value not in choices:
        raise ValueError(f"model.{name}='{value}' is not one of {', '.join(choices)}")
    check("kind", self.kind, KINDS)
    check("positions", self.positions, ("sinusoidal", "learned"))
    check("norm", self.norm, ("pre", "post"))
    check("dtype", self.dtype, tuple(DTYPES))
    check("mixture", self.mixture, WEIGHTINGS)
    parse_variant(self.variant)
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

  @property
  def compute_dtype(self):
    return DTYPES[self.dtype]

  def attention_options(self) -> dict:
    """Keyword options for synth.attention.make_attention shared by every self-attention layer."""
    return dict(mixture=self.mixture, factor_a=self.factor_a or None,
                factor_b=self.factor_b or None, factor_k=self.factor_k,
                dropout_rate=self.attention_dropout_rate, dtype=self.compute_dtype)
