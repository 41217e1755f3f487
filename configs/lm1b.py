"""One Billion Word language modelling with the paper's LM1B decoder (Table 2, perplexity).

  synth train --config=configs/lm1b.py:variant=dense+vanilla --workdir=workdirs/lm1b_dv \
      --config.data.data_dir=DIR

Needs the TFDS dataset prepared as ArrayRecord:
  tfds build lm1b --data_dir=DIR --file_format=array_record
LM1B has no validation split: periodic evaluation uses its test split (306k sentences), as
published perplexities do. Every field below overrides synth/config.py, where each is documented.
"""
from synth.config import base_config, parse_config_args
from synth.models import PRESETS


def get_config(arg: str | None = None):
  # variant: the self-attention variant (synth.attention.VARIANTS or a '+'-joined mixture).
  args = parse_config_args(arg, variant="vanilla")
  c = base_config()
  # Decoder-only, 6 layers, d 512, 8 heads, FFN 2048, N 256, 32k vocab.
  c.model.update(PRESETS["lm1b"]())
  c.model.variant = args["variant"]

  # LM1B sentences, packed into rows of 256 tokens.
  c.data.source = "lm1b"
  c.data.seq_len = 256
  c.data.pack = True
  # 128 rows of 256 tokens per step (about 33k tokens).
  c.data.batch_size = 128
  c.data.eval_batch_size = 128
  # Threads that read and tokenize records.
  c.data.read_threads = 8

  # Adam with the Transformer's rsqrt schedule: peak (512 * 4000)^-0.5 after 4000 steps.
  c.optimizer.name = "adam"
  c.optimizer.schedule = "rsqrt"
  c.optimizer.learning_rate = 7e-4
  c.optimizer.warmup_steps = 4000

  # 100k steps; evaluate (perplexity on the test split) every 10k.
  c.train.num_steps = 100_000
  c.train.log_every = 100
  c.train.eval_every = 10_000
  c.train.checkpoint_every = 5000
  # The eval metric that picks the best checkpoint: the loss (log-perplexity).
  c.train.best_metric = "loss"

  # Samples written at each evaluation: nucleus sampling after a 16-token prompt.
  c.eval.method = "sample"
  c.eval.top_p = 0.9
  c.eval.max_decode_len = 64
  c.eval.num_samples = 4
  return c
