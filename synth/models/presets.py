"""The paper's model sizes as `config.model` overrides.

Usage in a config file:  config.model.update(presets.transformer_base_mt())
"""


def transformer_base_mt() -> dict:
  """Transformer-base for WMT14 (Vaswani et al.; the paper's MT model): 6+6 layers, d 512, N 256."""
  return dict(kind="encoder_decoder", d_model=512, num_heads=8, d_ff=2048, num_encoder_layers=6,
              num_decoder_layers=6, max_len=256, vocab_size=32000, tie_embeddings=True,
              dropout_rate=0.1)


def lm1b() -> dict:
  """The LM1B decoder-only model: 6 layers, d 512, 8 heads, FFN 2048, N 256."""
  return dict(kind="decoder", d_model=512, num_heads=8, d_ff=2048, num_decoder_layers=6,
              max_len=256, vocab_size=32000, tie_embeddings=True, dropout_rate=0.1)


def t5_base() -> dict:
  """T5-base-sized encoder-decoder (12+12 layers, d 768, 12 heads, FFN 3072, vocab 32128)."""
  return dict(kind="encoder_decoder", d_model=768, num_heads=12, d_ff=3072,
              num_encoder_layers=12, num_decoder_layers=12, max_len=512, vocab_size=32128,
              tie_embeddings=True, dropout_rate=0.1)


PRESETS = {"transformer_base_mt": transformer_base_mt, "lm1b": lm1b, "t5_base": t5_base}
