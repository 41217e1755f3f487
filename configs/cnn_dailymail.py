"""CNN/DailyMail abstractive summarisation (article -> highlights), the paper's text generation
experiment, scored with ROUGE-1/2/L.

  synth train --config=configs/cnn_dailymail.py:variant=dense+vanilla --workdir=workdirs/cnndm_dv \
      --config.data.data_dir=DIR

Needs the TFDS dataset prepared as ArrayRecord:
  tfds build cnn_dailymail --data_dir=DIR --file_format=array_record
Every field below overrides synth/config.py, where each field is documented.
"""
from synth.config import base_config, parse_config_args
from synth.models import PRESETS


def get_config(arg: str | None = None):
  # variant: the self-attention variant (synth.attention.VARIANTS or a '+'-joined mixture).
  args = parse_config_args(arg, variant="vanilla")
  c = base_config()
  # Transformer-base (6+6 layers, d 512, 8 heads, FFN 2048), sized for 512-token articles.
  c.model.update(PRESETS["transformer_base_mt"]())
  c.model.variant = args["variant"]
  c.model.max_len = 512

  # Articles cut to 512 tokens, highlights to 128; one article per row (they fill it).
  c.data.source = "cnn_dailymail"
  c.data.seq_len = 512
  c.data.max_input_len = 512
  c.data.max_target_len = 128
  c.data.pack = False
  # 64 articles per step.
  c.data.batch_size = 64
  c.data.eval_batch_size = 64
  # Threads that read and tokenize records.
  c.data.read_threads = 8

  # Adam with the rsqrt schedule: peak (512 * 4000)^-0.5 after 4000 steps; label smoothing 0.1.
  c.optimizer.name = "adam"
  c.optimizer.schedule = "rsqrt"
  c.optimizer.learning_rate = 7e-4
  c.optimizer.warmup_steps = 4000
  c.optimizer.label_smoothing = 0.1

  # 100k steps, evaluated every 5k.
  c.train.num_steps = 100_000
  c.train.log_every = 100
  c.train.eval_every = 5000
  c.train.checkpoint_every = 5000

  # Beam 4, length penalty 0.6, summaries of at most 128 tokens.
  c.eval.method = "beam"
  c.eval.beam_size = 4
  c.eval.alpha = 0.6
  c.eval.max_decode_len = 128
  # Summaries are scored with ROUGE-1/2/L/Lsum (the encoder-decoder default would be BLEU).
  c.eval.metrics = "rouge"
  return c
