"""Causal language modelling on C4 documents (no span corruption): a decoder-only baseline on
the paper's pre-training corpus, reported as log-perplexity.

  synth train --config=configs/c4_lm.py:variant=random --workdir=workdirs/c4lm_random \
      --config.data.data_dir=DIR

Needs C4 prepared as ArrayRecord:
  tfds build c4/en --data_dir=DIR --file_format=array_record
Every field below overrides synth/config.py, where each field is documented.
"""
from synth.config import base_config, parse_config_args
from synth.models import PRESETS


def get_config(arg: str | None = None):
  # variant: the self-attention variant (synth.attention.VARIANTS or a '+'-joined mixture).
  args = parse_config_args(arg, variant="vanilla")
  c = base_config()
  # The LM1B decoder (6 layers, d 512, 8 heads, FFN 2048) over 512-token rows.
  c.model.update(PRESETS["lm1b"]())
  c.model.variant = args["variant"]
  c.model.max_len = 512

  # C4 documents, cut into 512-token chunks and packed.
  c.data.source = "c4"
  c.data.seq_len = 512
  c.data.pack = True
  # 128 rows of 512 tokens per step.
  c.data.batch_size = 128
  c.data.eval_batch_size = 128
  # Evaluate on the first 10k of C4's 365k validation documents.
  c.data.max_eval_examples = 10_000
  # Threads that read and tokenize documents.
  c.data.read_threads = 16

  # Adam with the rsqrt schedule: peak (512 * 4000)^-0.5 after 4000 warmup steps.
  c.optimizer.name = "adam"
  c.optimizer.schedule = "rsqrt"
  c.optimizer.learning_rate = 7e-4
  c.optimizer.warmup_steps = 4000

  # 100k steps, evaluated every 10k.
  c.train.num_steps = 100_000
  c.train.log_every = 100
  c.train.eval_every = 10_000
  c.train.checkpoint_every = 5000

  # Samples at each evaluation: nucleus sampling after a 16-token prompt.
  c.eval.method = "sample"
  c.eval.top_p = 0.9
  c.eval.max_decode_len = 128
  c.eval.num_samples = 4
  return c
