"""T5-base pre-training on C4 with span corruption: the start of the paper's GLUE/SuperGLUE runs
and its C4 comparison with Dynamic Convolutions.

  synth train --config=configs/c4_span.py:variant=random+vanilla --workdir=workdirs/c4_rv \
      --config.data.data_dir=DIR

Needs C4 prepared as ArrayRecord (a large Apache Beam job):
  tfds build c4/en --data_dir=DIR --file_format=array_record
Span corruption as T5: 15% of the tokens dropped in spans of mean length 3, each span replaced by
a sentinel id from the top of the 32128-id vocabulary (100 are kept free for them), 568-token
chunks giving 512 input and 114 target tokens. configs/glue.py and configs/superglue.py
fine-tune the result. Every field below overrides synth/config.py, where each is documented.
"""
from synth.config import base_config, parse_config_args
from synth.models import PRESETS


def get_config(arg: str | None = None):
  # variant: the self-attention variant (synth.attention.VARIANTS or a '+'-joined mixture).
  args = parse_config_args(arg, variant="vanilla")
  c = base_config()
  # T5-base size: 12+12 layers, d 768, 12 heads, FFN 3072, N 512, vocab 32128.
  c.model.update(PRESETS["t5_base"]())
  c.model.variant = args["variant"]

  # C4 documents, span-corrupted; T5's input and target lengths, pairs packed per row.
  c.data.source = "c4_span"
  c.data.seq_len = 512
  c.data.max_input_len = 512
  c.data.max_target_len = 114
  c.data.pack = True
  # 100 sentinel ids at the top of the vocabulary (the SentencePiece model gets 32028 pieces).
  c.data.extra_ids = 100
  c.data.noise_density = 0.15
  c.data.mean_noise_span_length = 3.0
  # T5's batch: 128 rows of 512 input tokens.
  c.data.batch_size = 128
  c.data.eval_batch_size = 128
  # C4's validation split has 365k documents: evaluate on the first 10k.
  c.data.max_eval_examples = 10_000
  # Threads that read and tokenize documents.
  c.data.read_threads = 16

  # T5's pre-training optimizer: Adafactor, inverse square root decay from 0.01 after 10k steps.
  c.optimizer.name = "adafactor"
  c.optimizer.schedule = "rsqrt"
  c.optimizer.learning_rate = 0.01
  c.optimizer.warmup_steps = 10_000
  c.optimizer.grad_clip_norm = 0.0

  # T5's pre-training length: 2^19 steps (about 34B tokens).
  c.train.num_steps = 524_288
  c.train.log_every = 100
  c.train.eval_every = 10_000
  c.train.checkpoint_every = 10_000

  # Pre-training is scored by loss only: no decoded samples.
  c.eval.num_samples = 0
  return c
