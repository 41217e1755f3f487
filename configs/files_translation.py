"""An encoder-decoder on your own parallel text: TSV (a header line, then tab-separated rows) or
JSONL files with an input and a target column.

  synth train --config=configs/files_translation.py:train=data/train.tsv,eval=data/dev.tsv \
      --workdir=workdirs/my_mt

The columns are 'input' and 'target' unless --config.data.input_field / target_field say
otherwise. A missing file or a malformed line is an error naming the file and line before
training starts. Every field below overrides synth/config.py, where each field is documented.
"""
from synth.config import ConfigError, base_config, parse_config_args

FORMATS = ("tsv", "jsonl")


def get_config(arg: str | None = None):
  # variant: the self-attention variant; train / eval: glob patterns of the training and
  # validation files; format: tsv or jsonl.
  args = parse_config_args(arg, variant="vanilla", train="", eval="", format="tsv")
  if args["format"] not in FORMATS:
    raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got '{args['format']}'")
  c = base_config()
  # A small encoder-decoder (3+3 layers, d 256) with a shared 8k vocabulary.
  c.model.kind = "encoder_decoder"
  c.model.variant = args["variant"]
  c.model.vocab_size = 8000
  c.model.d_model = 256
  c.model.num_heads = 4
  c.model.d_ff = 1024
  c.model.num_encoder_layers = 3
  c.model.num_decoder_layers = 3
  c.model.max_len = 128

  # Parallel text from local files.
  c.data.source = "files"
  c.data.train_files = args["train"]
  c.data.eval_files = args["eval"]
  c.data.file_format = args["format"]
  c.data.input_field = "input"
  c.data.target_field = "target"
  # Rows of 128 tokens on each side, pairs packed.
  c.data.seq_len = 128
  c.data.max_input_len = 128
  c.data.max_target_len = 128
  c.data.pack = True
  c.data.batch_size = 32
  c.data.eval_batch_size = 32

  # Adam, rsqrt decay after 1000 warmup steps, label smoothing 0.1.
  c.optimizer.learning_rate = 1e-3
  c.optimizer.warmup_steps = 1000
  c.optimizer.label_smoothing = 0.1

  # 20k steps, evaluated every 2k.
  c.train.num_steps = 20_000
  c.train.log_every = 100
  c.train.eval_every = 2000
  c.train.checkpoint_every = 2000

  # Beam 4, length penalty 0.6.
  c.eval.method = "beam"
  c.eval.beam_size = 4
  c.eval.alpha = 0.6
  c.eval.max_decode_len = 128
  return c
