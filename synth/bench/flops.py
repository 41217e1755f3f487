"""Analytic model FLOPs of a train step, per attention variant: a causal decoder LM or a
bidirectional encoder classifier.

MFU needs the FLOPs the model's math requires, not what XLA happens to execute, so they are
counted from the formulas below rather than read from the compiler (whose count the benchmark
reports beside them as `xla_flops`). Conventions (those of PaLM / MaxText MFU accounting):

- Only matrix products count, 2 FLOPs per multiply-add. Softmax, norms, activations, masks,
  embedding gathers and the optimizer update are left out.
- Causal attention counts half of each token-token product (QK^T and weights.V): the masked half
  is not model work, although XLA computes it. Position-wise projections, including a Dense
  Synthesizer's logit MLP (whose rows are per token), count in full.
- A backward pass costs twice its forward pass: a train step is 3x the forward FLOPs.
- Logits that depend on no token (Random, Factorized Random) are computed once per step, not
  once per example, and count once.

Per layer and example of length n, with d = model width, H heads, d_h = d / H, f = FFN width,
N = max_len, c = 1/2 if causal else 1:

    every logit variant    value + output projections  4 n d^2
                           weights . V                 2 c n^2 d
    vanilla  (QK^T)        Q, K projections            4 n d^2
                           Q K^T                       2 c n^2 d
    dense                  hidden d -> H x d_h         2 n d^2
                           per head d_h -> N           2 n d N
    factorized_dense       hidden d -> H x d_h         2 n d^2
                           per head d_h -> a, d_h -> b 2 n d (a + b)
                           outer products              H n a b   (one multiply each)
    random, fixed_random   (a slice of R)              0
    factorized_random      R1 R2^T, once per STEP      2 H n^2 k
    a+b mixtures           the sum of their parts
    lightweight_conv       GLU in (value + gate)       4 n d^2   plus output projection 2 n d^2
                           depthwise K-tap conv        2 n d K
    dynamic_conv           the same plus kernels       2 n d H K
    linformer (encoder)    Q, K, V, O projections      8 n d^2
                           E^T K and F^T V             4 n k d   (k = linformer_k)
                           Q K'^T and weights . V'     4 n k d
    feed-forward           2 x (d x f)                 4 n d f

plus, per example, the output logits 2 n d V of a decoder LM (tied or not), or the class head
2 d C of an encoder classifier (one pooled vector; the pooling itself is no matrix product).

The FLOP CEILING of a speed-up is a second count, of what an implementation EXECUTES: there the
causal half of a token-token product counts only where the implementation skips it
(token_token_fractions): cuDNN flash attention skips the masked half of QK^T and P V; einsum and
jax's xla implementation compute the whole square; Random-family P V with causal blocks computes
causal_block_fraction of it. Vanilla's executed FLOPs over a variant's is the most the variant
can gain from doing less arithmetic (ceiling_flops, used by the benchmark's ratio columns).
"""
import dataclasses

from synth.attention import TOKEN_MIXERS, parse_variant
from synth.attention.causal_blocks import AUTO, causal_block_fraction, resolve_block
from synth.attention.dense import resolve_factors
from synth.attention.random import SHARED_WEIGHT_VARIANTS


# The model kinds the benchmark runs (config.model.kind): a causal decoder LM, or a bidirectional
# encoder with a pooled classification head.
BENCH_KINDS = ("decoder", "encoder_classifier")


@dataclasses.dataclass(frozen=True)
class ModelShape:
  """The model the benchmark runs, and the sizes its FLOPs depend on."""
  # config.model.kind, one of BENCH_KINDS: a decoder is causal, an encoder classifier is not.
  kind: str = "decoder"
  d_model: int = 512
  num_heads: int = 8
  d_ff: int = 2048
  num_layers: int = 6
  vocab_size: int = 32000
  factor_k: int = 8
  factor_a: int = 0   # 0: the layer's default (most balanced a * b = max_len)
  factor_b: int = 0
  kernel_size: int = 7
  linformer_k: int = 32
  # The encoder classifier's classes (its head's width).
  num_classes: int = 2

  def __post_init__(self):
    if self.kind not in BENCH_KINDS:
      raise ValueError(f"the benchmark runs model kind {' or '.join(BENCH_KINDS)}, "
                       f"got '{self.kind}'")

  @property
  def causal(self) -> bool:
    """Whether its self-attention is causal (the decoder LM's is; the encoder's is not)."""
    return self.kind == "decoder"

  def factors(self, max_len: int) -> tuple[int, int]:
    """Factorized Dense's (a, b), resolved by the layer's own rule (0 = unset)."""
    return resolve_factors(max_len, self.factor_a or None, self.factor_b or None)


def token_token_fractions(variant: str, n: int, *, causal: bool = True, impl: str = "einsum",
                          causal_block: int = AUTO, platform: str = "cpu"
                          ) -> tuple[float, float]:
  """(QK^T, P V) fractions of the n x n square that the implementation multiplies.

  impl is model.attention_impl, causal_block model.causal_block resolved as the layer resolves
  it on `platform` (synth.attention.causal_blocks.resolve_block).
  """
  if not causal:
    return 1.0, 1.0
  parts = parse_variant(variant)
  if "vanilla" in parts:  # one kernel computes both products
    fraction = 0.5 if impl == "cudnn" else 1.0
    return fraction, fraction
  if all(p in SHARED_WEIGHT_VARIANTS for p in parts):
    return 1.0, causal_block_fraction(resolve_block(causal_block, n, platform), n)
  return 1.0, 1.0


def _component_flops(name: str, shape: ModelShape, n: int, max_len: int, qk: float):
  """(per-example, per-step) forward FLOPs of one attention component in one layer; qk is the
  fraction of the n x n square counted in QK^T."""
  d, heads = shape.d_model, shape.num_heads
  if name == "vanilla":
    return 4 * n * d * d + 2 * qk * n * n * d, 0
  if name == "dense":
    return 2 * n * d * d + 2 * n * d * max_len, 0
  if name == "factorized_dense":
    a, b = shape.factors(max_len)
    return 2 * n * d * d + 2 * n * d * (a + b) + heads * n * a * b, 0
  if name in ("random", "fixed_random"):
    return 0, 0
  if name == "factorized_random":
    return 0, 2 * heads * n * n * shape.factor_k
  raise ValueError(f"no FLOP formula for attention component '{name}'")


def attention_flops(variant: str, shape: ModelShape, n: int, max_len: int | None = None, *,
                    causal: bool | None = None,
                    fractions: tuple[float, float] | None = None) -> tuple[float, float]:
  """(per-example, per-step) forward FLOPs of one self-attention sublayer.

  The per-step part is computed once whatever the batch size (input-independent logits).
  fractions: the (QK^T, P V) fractions of the square to count; None = model FLOPs (half of each
  when causal), token_token_fractions(...) = executed FLOPs. causal: None = the shape's kind's.
  """
  causal = shape.causal if causal is None else causal
  max_len = n if max_len is None else max_len
  d = shape.d_model
  parts = parse_variant(variant)
  if parts[0] in TOKEN_MIXERS:
    if parts[0] == "linformer":
      if causal:
        raise ValueError("'linformer' is bidirectional only: bench it in the encoder "
                         "(--kind=encoder_classifier), not the causal decoder LM")
      return 8 * n * d * d + 8 * n * shape.linformer_k * d, 0
    conv = 6 * n * d * d + 2 * n * d * shape.kernel_size
    if parts[0] == "dynamic_conv":
      conv += 2 * n * d * shape.num_heads * shape.kernel_size
    return conv, 0
  c = 0.5 if causal else 1.0
  qk, pv = (c, c) if fractions is None else fractions
  per_example = 4 * n * d * d + 2 * pv * n * n * d
  per_step = 0
  for name in parts:
    ex, st = _component_flops(name, shape, n, max_len, qk)
    per_example, per_step = per_example + ex, per_step + st
  return per_example, per_step


def forward_flops(variant: str, shape: ModelShape, batch: int, n: int,
                  max_len: int | None = None, *, causal: bool | None = None,
                  fractions: tuple[float, float] | None = None) -> float:
  """Forward FLOPs of the shape's model on a (batch, n) batch (causal, fractions: see
  attention_flops)."""
  per_example, per_step = attention_flops(variant, shape, n, max_len, causal=causal,
                                          fractions=fractions)
  ffn = 4 * n * shape.d_model * shape.d_ff
  layers = shape.num_layers * (batch * (per_example + ffn) + per_step)
  if shape.kind == "decoder":
    head = 2 * n * shape.d_model * shape.vocab_size
  else:
    head = 2 * shape.d_model * shape.num_classes
  return float(layers + batch * head)


def train_step_flops(variant: str, shape: ModelShape, batch: int, n: int,
                     max_len: int | None = None, *, causal: bool | None = None,
                     fractions: tuple[float, float] | None = None) -> float:
  """Model FLOPs of one train step: forward + backward (= 2 x forward)."""
  return 3.0 * forward_flops(variant, shape, batch, n, max_len, causal=causal,
                             fractions=fractions)


def ceiling_flops(variant: str, shape: ModelShape, batch: int, n: int, *, impl: str = "einsum",
                  causal_block: int = AUTO, platform: str = "cpu",
                  causal: bool | None = None) -> float:
  """FLOPs one train step EXECUTES (see the module doc): the FLOP-ceiling count."""
  causal = shape.causal if causal is None else causal
  fractions = token_token_fractions(variant, n, causal=causal, impl=impl,
                                    causal_block=causal_block, platform=platform)
  return train_step_flops(variant, shape, batch, n, causal=causal, fractions=fractions)
