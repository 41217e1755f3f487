"""ListOps with the Long Range Arena's grammar: a small encoder classifier of expression values.

  synth train --config=configs/listops.py:variant=dense --workdir=/tmp/listops_dense

Nothing is downloaded: expressions are generated from data.listops.seed
(synth.data.diagnostics.listops) in the grammar's 15 symbols, so no SentencePiece model is
trained. The label is the expression's value (10 classes), scored by accuracy. The config
arguments set the length range and everything that depends on it (row and attention lengths)
together; the other knobs can be overridden as --config.data.listops.<knob>. Every field below
overrides synth/config.py, where the shared fields are documented.
"""
import ml_collections

from synth.config import base_config, parse_config_args
from synth.data.diagnostics import listops


def get_config(arg: str | None = None):
  # variant: the encoder's token mixer (synth.attention.VARIANTS, a '+'-joined mixture, or
  # 'linformer' / 'lightweight_conv' / 'dynamic_conv'); min_length, max_length: the expression
  # lengths kept, in symbols (LRA: 500 to 2000; 128 keeps a CPU run to minutes, and
  # max_length=512 runs at the upper bound).
  args = parse_config_args(arg, variant="vanilla", min_length=32, max_length=128)
  c = base_config()

  # The generator's knobs (synth.data.diagnostics.listops.ListOpsKnobs; impossible combinations
  # are a one-line error here, before anything runs).
  c.data.listops = k = ml_collections.ConfigDict()
  # Expression length in symbols (operators, ']' and digits), both bounds included.
  k.min_length = args["min_length"]
  k.max_length = args["max_length"]
  # Deepest node (the root is depth 1, nodes at max_depth are digits) and the most arguments an
  # operator takes (it takes 2 to max_args): LRA's 10 and 10.
  k.max_depth = 10
  k.max_args = 10
  # Chance that a node above max_depth is an operator rather than a digit (LRA: 0.25).
  k.operator_p = 0.25
  # Examples per split (LRA: 96k train, 2k validation, 2k test); generated when read.
  k.train_examples = 96_000
  k.eval_examples = 2000
  # The data seed (the same across the training seeds of a sweep: one fixed benchmark).
  k.seed = 0
  knobs = listops.knobs(c)

  # A mean-pooled Transformer encoder with a 10-way softmax head, one class per value.
  c.model.kind = "encoder_classifier"
  c.model.variant = args["variant"]
  c.model.num_classes = len(listops.LABEL_NAMES)
  # The grammar's 15 symbols plus pad/eos/unk.
  c.model.vocab_size = listops.VOCABULARY.vocab_size
  # Two layers of width 64 with 2 heads: small enough for 2 CPU cores (LRA: 6 layers of 512).
  c.model.num_encoder_layers = 2
  c.model.d_model = 64
  c.model.num_heads = 2
  c.model.d_ff = 256
  # Every expression fits in a row whole: cutting one would change its value.
  c.model.max_len = knobs.max_length
  # Generated data hardly ever repeat in a short run: no dropout.
  c.model.dropout_rate = 0.0

  # The task; one expression per row, padded (classifier rows are never packed).
  c.data.source = listops.NAME
  c.data.seq_len = knobs.max_length
  # Rows per training step and per eval batch (LRA: 32 per step).
  c.data.batch_size = 32
  c.data.eval_batch_size = 64

  # Adam with the rsqrt schedule after a short warmup (3e-3 as measured for MQAR's vanilla).
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 3e-3
  c.optimizer.schedule = "rsqrt"
  c.optimizer.warmup_steps = 100

  # Training length and logging; one evaluation, at the end, and one checkpoint. Vanilla at the
  # default lengths reached 34% validation accuracy after 400 steps (LRA's Transformer: 36%).
  c.train.num_steps = 400
  c.train.log_every = 50
  c.train.eval_every = 0
  c.train.checkpoint_every = 400
  return c
