"""WMT14 English-German translation with Transformer-base: the paper's MT setup (Table 2).

  synth train --config=configs/wmt14_ende.py:variant=random+vanilla,pair=en-de \
      --workdir=workdirs/wmt14_ende_rv --config.data.data_dir=DIR

Reads the TFDS dataset through tfds.data_source, so it must first be prepared as ArrayRecord:
  tfds build wmt14_translate/de-en --data_dir=DIR --file_format=array_record
A shared 32k SentencePiece vocabulary is trained on both languages of the training split on
first use. Evaluation decodes with beam 4 and length penalty 0.6 (`synth eval`). Every field
below overrides synth/config.py, where each field is documented.
"""
from synth.config import ConfigError, base_config, parse_config_args
from synth.models import PRESETS

PAIRS = ("en-de", "de-en")


def get_config(arg: str | None = None):
  # variant: the self-attention variant; pair: the translation direction, en-de or de-en.
  args = parse_config_args(arg, variant="vanilla", pair="en-de")
  if args["pair"] not in PAIRS:
    raise ConfigError(f"pair must be one of {', '.join(PAIRS)}, got '{args['pair']}'")
  c = base_config()
  # Transformer-base (6+6 layers, d 512, 8 heads, FFN 2048, N 256, shared 32k vocab).
  c.model.update(PRESETS["transformer_base_mt"]())
  c.model.variant = args["variant"]

  # WMT14 in the chosen direction; validation is newstest2013, test newstest2014.
  c.data.source = f"wmt14/{args['pair']}"
  # Rows of 256 tokens on both sides, several sentence pairs packed per row.
  c.data.seq_len = 256
  c.data.max_input_len = 256
  c.data.max_target_len = 256
  c.data.pack = True
  # 128 packed rows: about 25k source + 25k target tokens per step, T2T's base batch.
  c.data.batch_size = 128
  c.data.eval_batch_size = 128
  # Threads that read and tokenize records (decoding records and SentencePiece cost CPU).
  c.data.read_threads = 8

  # The Transformer's optimizer: Adam (0.9, 0.98, 1e-9), rsqrt decay after 4000 warmup steps,
  # peak (512 * 4000)^-0.5, label smoothing 0.1.
  c.optimizer.name = "adam"
  c.optimizer.schedule = "rsqrt"
  c.optimizer.learning_rate = 7e-4
  c.optimizer.warmup_steps = 4000
  c.optimizer.label_smoothing = 0.1

  # Transformer-base trains 100k steps.
  c.train.num_steps = 100_000
  c.train.log_every = 100
  c.train.eval_every = 5000
  c.train.checkpoint_every = 5000

  # Beam search with beam 4 and length penalty alpha 0.6, as in the paper.
  c.eval.method = "beam"
  c.eval.beam_size = 4
  c.eval.alpha = 0.6
  # Longest translation, in tokens.
  c.eval.max_decode_len = 256
  return c
