"""AG News topic classification with an encoder classifier: the paper's encoding-only comparison
with Linformer (variant=linformer is the baseline).

  synth train --config=configs/ag_news.py:variant=factorized_random --workdir=workdirs/agnews_fr \
      --config.data.data_dir=DIR

Needs the TFDS dataset prepared as ArrayRecord:
  tfds build ag_news_subset --data_dir=DIR --file_format=array_record
AG News has no validation split: evaluation uses its 7.6k-example test split. Every field below
overrides synth/config.py, where each field is documented.
"""
from synth.config import base_config, parse_config_args
from synth.models import PRESETS


def get_config(arg: str | None = None):
  # variant: the self-attention variant, or 'linformer' for the baseline.
  args = parse_config_args(arg, variant="vanilla")
  c = base_config()
  # A Transformer-base encoder (6 layers, d 512, 8 heads, FFN 2048) with a mean-pooled head
  # over 4 topics; N 256 covers title + description.
  c.model.update(PRESETS["transformer_base_mt"]())
  c.model.kind = "encoder_classifier"
  c.model.variant = args["variant"]
  c.model.num_classes = 4
  c.model.max_len = 256

  # Title + description, cut to 256 tokens, one per row.
  c.data.source = "ag_news_subset"
  c.data.seq_len = 256
  # 64 examples per step.
  c.data.batch_size = 64
  c.data.eval_batch_size = 64
  # Threads that read and tokenize records.
  c.data.read_threads = 4

  # Adam with the rsqrt schedule: peak 5e-4 after 1000 warmup steps.
  c.optimizer.name = "adam"
  c.optimizer.schedule = "rsqrt"
  c.optimizer.learning_rate = 5e-4
  c.optimizer.warmup_steps = 1000

  # 20k steps (about 11 epochs of the 120k training examples), evaluated every 2k.
  c.train.num_steps = 20_000
  c.train.log_every = 100
  c.train.eval_every = 2000
  c.train.checkpoint_every = 2000
  return c
