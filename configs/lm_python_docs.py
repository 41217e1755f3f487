"""The embedded default: a small decoder-only LM on CPython's own docstrings (no download).

  synth train --config=configs/lm_python_docs.py:variant=random --workdir=/tmp/synth/lm_random

Sized to finish on 2 CPU cores in a few minutes with a clearly falling loss; every field below
overrides synth/config.py, where each field is documented.
"""
from synth.config import base_config, parse_config_args


def get_config(arg: str | None = None):
  # variant: the self-attention variant (synth.attention.VARIANTS or a '+'-joined mixture).
  args = parse_config_args(arg, variant="vanilla")
  c = base_config()
  c.model.kind = "decoder"
  c.model.variant = args["variant"]
  c.model.vocab_size = 2000
  c.model.d_model = 192
  c.model.num_heads = 4
  c.model.d_ff = 768
  c.model.num_decoder_layers = 3
  c.model.max_len = 128
  c.model.dropout_rate = 0.1

  c.data.source = "python_docs"
  c.data.seq_len = 128
  c.data.batch_size = 16
  c.data.eval_batch_size = 32

  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 2e-3
  c.optimizer.schedule = "rsqrt"
  c.optimizer.warmup_steps = 100

  # Samples at the end of training and in `synth eval`: nucleus sampling after a 16-token prompt.
  c.eval.method = "sample"
  c.eval.temperature = 0.8
  c.eval.top_p = 0.9
  c.eval.max_decode_len = 64
  c.eval.num_samples = 4

  c.train.num_steps = 240
  c.train.log_every = 20
  c.train.eval_every = 120
  c.train.checkpoint_every = 80
  return c
