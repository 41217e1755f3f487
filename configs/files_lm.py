"""A decoder-only LM on your own text files: one example per line (or per paragraph).

  synth train --config=configs/files_lm.py:train=corpus/train*.txt,eval=corpus/valid.txt \
      --workdir=workdirs/my_lm

A missing file, or a line that is not UTF-8, is an error naming the file and line before
training starts. Every field below overrides synth/config.py, where each field is documented.
"""
from synth.config import ConfigError, base_config, parse_config_args

UNITS = ("line", "paragraph")


def get_config(arg: str | None = None):
  # variant: the self-attention variant; train / eval: glob patterns of the training and
  # validation files; unit: 'line' (one example per line) or 'paragraph' (blank-line separated).
  args = parse_config_args(arg, variant="vanilla", train="", eval="", unit="line")
  if args["unit"] not in UNITS:
    raise ConfigError(f"unit must be one of {', '.join(UNITS)}, got '{args['unit']}'")
  c = base_config()
  # A small decoder (4 layers, d 256) that trains on a CPU or one GPU.
  c.model.kind = "decoder"
  c.model.variant = args["variant"]
  c.model.vocab_size = 8000
  c.model.d_model = 256
  c.model.num_heads = 4
  c.model.d_ff = 1024
  c.model.num_decoder_layers = 4
  c.model.max_len = 256

  # Plain text files.
  c.data.source = "files"
  c.data.train_files = args["train"]
  c.data.eval_files = args["eval"]
  c.data.file_format = "text"
  c.data.text_unit = args["unit"]
  # Rows of 256 tokens, examples packed.
  c.data.seq_len = 256
  c.data.pack = True
  c.data.batch_size = 32
  c.data.eval_batch_size = 32

  # Adam, rsqrt decay after 1000 warmup steps.
  c.optimizer.learning_rate = 1e-3
  c.optimizer.warmup_steps = 1000

  # 20k steps, evaluated every 2k.
  c.train.num_steps = 20_000
  c.train.log_every = 100
  c.train.eval_every = 2000
  c.train.checkpoint_every = 2000

  # Samples at each evaluation: nucleus sampling after a 16-token prompt.
  c.eval.method = "sample"
  c.eval.top_p = 0.9
  c.eval.max_decode_len = 96
  c.eval.num_samples = 4
  return c
