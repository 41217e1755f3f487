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
  # A Transformer encoder-decoder, about a third of the paper's base width and half its depth.
  c.model.kind = "encoder_decoder"
  c.model.variant = args["variant"]
  # One SentencePiece vocabulary for both languages (trained on both sides of the train split).
  c.model.vocab_size = 4000
  c.model.d_model = 192
  c.model.num_heads = 4
  c.model.d_ff = 768
  c.model.num_encoder_layers = 3
  c.model.num_decoder_layers = 3
  # 99% of the pairs are under 90 tokens a side; synthetic attention is sized for 128.
  c.model.max_len = 128
  c.model.dropout_rate = 0.1

  # Paragraph pairs read from the prepared JSONL under data.data_dir (default
  # ~/.cache/synth/offline); pairs are packed into 128-token rows, 16 rows a batch.
  c.data.source = "offline_ende"
  c.data.seq_len = 128
  c.data.batch_size = 16
  c.data.eval_batch_size = 32
  # Periodic evals beam-decode for BLEU: the whole validation split (~1.7k pairs) is slow on a
  # CPU, so they use its first 200 pairs (--config.data.max_eval_examples=0 for all of it).
  c.data.max_eval_examples = 200

  # The Transformer's optimizer and schedule, with the paper's label smoothing for MT.
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "rsqrt"
  c.optimizer.warmup_steps = 400
  c.optimizer.label_smoothing = 0.1

  # About 5 passes over the ~30k training pairs (~2k tokens a side per batch).
  c.train.num_steps = 1500
  c.train.log_every = 50
  c.train.eval_every = 500
  c.train.checkpoint_every = 500

  # The paper's translation decoding: beam 4, length penalty 0.6.
  c.eval.method = "beam"
  c.eval.beam_size = 4
  c.eval.alpha = 0.6
  c.eval.num_samples = 8
  return c
