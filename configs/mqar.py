"""Multi-query associative recall (Zoology's MQAR): a small decoder LM scored on the answers only.

  synth train --config=configs/mqar.py:variant=random,pairs=16,length=128 --workdir=/tmp/mqar_r

Nothing is downloaded: examples are generated from data.mqar.seed (synth.data.diagnostics.mqar)
in a fixed symbolic vocabulary, so no SentencePiece model is trained. The config arguments size
the task and everything that depends on it (the model's vocabulary, row and attention lengths)
together; the other knobs can be overridden as --config.data.mqar.<knob>. The eval metrics are
the answers' accuracy (percent recalled: about 100 / num_pairs when the model cannot retrieve,
100 when it always can), loss and perplexity (about num_pairs and 1). Every field below
overrides synth/config.py, where the shared fields are documented.
"""
import ml_collections

from synth.config import base_config, parse_config_args
from synth.data.diagnostics import mqar


def get_config(arg: str | None = None):
  # variant: the decoder's token mixer (synth.attention.VARIANTS, a '+'-joined mixture, or
  # 'lightweight_conv' / 'dynamic_conv'); vocab: key and value symbols (half each); pairs:
  # key-value pairs per example; queries: keys asked again; length: tokens per example.
  args = parse_config_args(arg, variant="vanilla", vocab=32, pairs=4, queries=2, length=32)
  c = base_config()

  # The generator's knobs (synth.data.diagnostics.mqar.MQARKnobs; impossible combinations are a
  # one-line error here, before anything runs).
  c.data.mqar = k = ml_collections.ConfigDict()
  # Key and value symbols together: the first half are keys k0.., the rest values v0...
  k.vocab_size = args["vocab"]
  # Key-value pairs at the start of each example (distinct keys, distinct values).
  k.num_pairs = args["pairs"]
  # Keys of those pairs asked again later, each once; only their answers are scored. Half the
  # pairs: with one query per pair, elimination among the values not yet asked about is a trap
  # that a small vanilla decoder did not leave in 4000 steps (experiments/diagnostics.py).
  k.num_queries = args["queries"]
  # Tokens per example: 2 per pair, 2 per query, filler '.' in between.
  k.seq_len = args["length"]
  # Examples per split; train examples are generated when read, so its size costs nothing.
  k.train_examples = 100_000
  k.eval_examples = 1000
  # The data seed (the same across the training seeds of a sweep: one fixed benchmark).
  k.seed = 0
  knobs = mqar.knobs(c)

  # A causal decoder: associative recall is a language-modelling task (Zoology).
  c.model.kind = "decoder"
  c.model.variant = args["variant"]
  # Exactly the task's symbols plus pad/eos/unk: no unused embeddings.
  c.model.vocab_size = mqar.vocabulary(knobs).vocab_size
  # Two layers, as in Zoology's MQAR sweeps (one attention layer cannot both find the matching
  # key and copy the token after it).
  c.model.num_decoder_layers = 2
  # Width 64 with 2 heads: small enough for 2 CPU cores.
  c.model.d_model = 64
  c.model.num_heads = 2
  c.model.d_ff = 256
  # Synthetic attention is sized for exactly one example per row.
  c.model.max_len = knobs.seq_len
  # The data are noise-free and hardly ever repeat in a short run: dropout would only slow it.
  c.model.dropout_rate = 0.0

  # The task, one example per row and never packed: the fixed token mixers (Random, Fixed
  # Random) ignore segment boundaries, so packed neighbours would leak into each other.
  c.data.source = mqar.NAME
  c.data.seq_len = knobs.seq_len
  c.data.pack = False
  # Rows per training step and per eval batch: only num_queries tokens per row are scored, so
  # the batch is larger than an LM's.
  c.data.batch_size = 64
  c.data.eval_batch_size = 64

  # Adam with the rsqrt schedule after a short warmup; 3e-3 measured on vanilla (1e-2 no better).
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 3e-3
  c.optimizer.schedule = "rsqrt"
  c.optimizer.warmup_steps = 100

  # Training length and logging; one evaluation, at the end, and one checkpoint. Vanilla at the
  # default size recalls perfectly (answer perplexity 1.01) from about step 500.
  c.train.num_steps = 800
  c.train.log_every = 50
  c.train.eval_every = 0
  c.train.checkpoint_every = 800
  # No LM samples: continuations of symbol strings say nothing the answer loss does not.
  c.eval.num_samples = 0
  return c
