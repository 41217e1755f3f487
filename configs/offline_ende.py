"""English->German translation of LibreOffice help paragraphs: a small encoder-decoder on CPU.

  synth data prepare offline --only=ende        # once: fetches the Debian help packages
  synth train --config=configs/offline_ende.py:variant=random --workdir=/tmp/synth/ende_random

The corpus (offline_ende, ~34k aligned paragraph pairs, see synth.data.offline) is real
translation data that needs no download at run time, so the paper's MT comparison of attention
variants can be run anywhere. English->French is the same config with
`--config.data.source=offline_enfr`. Sized for a 2-core CPU; every field below overrides
synth/config.py, where each field is documented.
"""
from synth.config import base_config, parse_config_args


def get_config(arg: str | None = None):
  # variant: the encoder and decoder self-attention variant (synth.attention.VARIANTS or a
  # '+'-joined mixture); cross-attention stays dot-product.
  args = parse_config_args(arg, variant="vanilla")
  c = base_config()
  # A Transformer encoder-decoder, a sixth of the paper's base width and half its depth.
  c.model.kind = "encoder_decoder"
  c.model.variant = args["variant"]
  # One SentencePiece vocabulary for both languages (trained on both sides of the train split).
  c.model.vocab_size = 8000
  c.model.d_model = 256
  c.model.num_heads = 4
  c.model.d_ff = 1024
  c.model.num_encoder_layers = 3
  c.model.num_decoder_layers = 3
  # 99% of the pairs are under 90 tokens a side; synthetic attention is sized for 128.
  c.model.max_len = 128
  c.model.dropout_rate = 0.1

  # Paragraph pairs read from the prepared JSONL under data.data_dir (default
  # ~/.cache/synth/offline); pairs are packed into 128-token rows, 32 rows a batch.
  c.data.source = "offline_ende"
  c.data.seq_len = 128
  c.data.batch_size = 32
  c.data.eval_batch_size = 32
  # Decoding the whole validation split (~1.7k pairs) with beam search is slow on a CPU.
  c.data.max_eval_examples = 500

  # The Transformer's optimizer and schedule, with the paper's label smoothing for MT.
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "rsqrt"
  c.optimizer.warmup_steps = 400
  c.optimizer.label_smoothing = 0.1

  # About 13 passes over the ~30k training pairs (~4k tokens a side per batch).
  c.train.num_steps = 2000
  c.train.log_every = 50
  c.train.eval_every = 500
  c.train.checkpoint_every = 500

  # The paper's translation decoding: beam 4, length penalty 0.6.
  c.eval.method = "beam"
  c.eval.beam_size = 4
  c.eval.alpha = 0.6
  c.eval.num_samples = 8
  return c
