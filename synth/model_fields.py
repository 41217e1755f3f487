"""config.model's fields, defined, defaulted and documented once.

base_config() turns ModelFields() into the `model` section of every config (so a dotted override
of a field that does not exist fails, as for every other section), and synth.models.ModelConfig
is this dataclass with its checks and helpers added. A module of its own, with no imports from
synth, so that config files, which import synth.config, stay light, and synth.models can use it
without importing the config machinery.
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class ModelFields:
  """config.model: the architecture. synth.models.ModelConfig adds the checks and helpers."""
  # Architecture: 'decoder' (LM), 'encoder_decoder' (MT, summarisation, T5) or 'encoder_classifier'.
  kind: str = "decoder"
  # Self-attention variant: a name in synth.attention.VARIANTS or a '+'-joined mixture of them,
  # or a baseline token mixer alone: 'lightweight_conv', 'dynamic_conv' or 'linformer'
  # (linformer cannot be causal: encoder_classifier only).
  variant: str = "vanilla"
  # How a mixture weights its logits: 'sum', 'sigmoid' or 'softmax' (the paper's equation).
  mixture: str = "softmax"
  # Factorized dense sizes a * b = max_len; 0 picks the most balanced pair.
  factor_a: int = 0
  factor_b: int = 0
  # Factorized random rank k (the paper uses 8).
  factor_k: int = 8
  # Vocabulary size (shared by source and target); must match the tokenizer.
  vocab_size: int = 32000
  # Model width d, heads H, feed-forward width.
  d_model: int = 512
  num_heads: int = 8
  d_ff: int = 2048
  # Layers: the decoder-only LM uses num_decoder_layers; the classifier num_encoder_layers.
  num_encoder_layers: int = 6
  num_decoder_layers: int = 6
  # N: the longest sequence synthetic attention parameters are sized for (hard limit).
  max_len: int = 256
  # 'sinusoidal' or 'learned' absolute position embeddings.
  positions: str = "sinusoidal"
  # 'pre' (pre-LN, stable for deep and long runs) or 'post' (post-LN, the original Transformer).
  norm: str = "pre"
  # Share input embeddings and output projection (and encoder/decoder embeddings).
  tie_embeddings: bool = True
  # Dropout on residual branches/embeddings, and on attention weights.
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.0
  # Compute dtype: 'float32' or 'bfloat16' (parameters and softmax stay float32).
  dtype: str = "float32"
  # Number of output classes of the encoder classifier (1 = regression).
  num_classes: int = 2
  # Rematerialise each layer in the backward pass (saves memory, costs ~1/3 more compute).
  remat: bool = False
  # What a rematerialised layer keeps for the backward pass (only read when remat is on):
  # 'full' (nothing but its input: least memory, most recompute), 'dots' (every matmul output,
  # attention logits included: O(n^2) memory per head, recomputes only elementwise ops) or
  # 'dots_no_batch' (weight matmuls only: memory linear in n, recomputes the attention products).
  remat_policy: str = "full"
  # T5's relative position bias (32 buckets, max distance 128) added to self-attention logits,
  # one table per stack shared by its layers; works with any variant that has logits.
  relative_bias: bool = False
  # Conv kernel sizes K by layer: layer i uses entry min(i, len - 1). Wu et al. (2019):
  # (3, 7, 15, 31, 31, 31, 31), whose first 6 are also their decoder's; (7,) = K 7 everywhere.
  conv_kernel_sizes: tuple[int, ...] = (7,)
  # Linformer's projected length k of keys and values (Wang et al. use 256 for n = 512).
  linformer_k: int = 32
  # How dot-product attention (vanilla, mixtures with vanilla, cross-attention) is computed:
  # 'einsum' (our einsums, writes every (batch, heads, n, n) tensor; the default and the only one
  # with attention dropout or returned weights), 'xla' or 'cudnn' (jax.nn.dot_product_attention;
  # cudnn is GPU flash attention, bf16 only, and skips the masked half of causal attention).
  # synth/attention/fused.py says what each supports.
  attention_impl: str = "einsum"
  # Causal Random-family attention multiplies its shared weights with the values block by block,
  # skipping the zero upper triangle: 0 = dense, -1 = automatic (n/8 blocks from n = 1024 on
  # accelerators, dense on CPU where it was measured slower), or a block size.
  causal_block: int = -1
  # Run each stack's layers as one nnx.scan over stacked parameters (created with nnx.vmap):
  # compile time stops growing with depth. Checkpoints then hold (layers, ...) arrays, so they do
  # not load into an unscanned model; no shared relative bias, one conv kernel size.
  scan_layers: bool = False
