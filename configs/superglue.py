"""SuperGLUE fine-tuning, T5-style text-to-text from a C4 pre-training run (the paper's
SuperGLUE table), or a plain encoder classifier.

  synth train --workdir=workdirs/sglue_boolq_rv --config.data.data_dir=DIR \
      --config=configs/superglue.py:task=boolq,variant=random+vanilla,pretrained=workdirs/c4_rv

`pretrained` is a configs/c4_span.py workdir: its parameters initialise the model
(init_from) and its vocabulary is reused, so the variant must match the pre-training run's.
Inputs are T5's ("boolq passage: ... question: ...", WSC with its spans marked *...* and #...#)
and targets are label names ("True"); ReCoRD's target is an answer entity, so it has no
classifier head. Needs the TFDS dataset prepared as ArrayRecord:
  tfds build super_glue/<task> --data_dir=DIR --file_format=array_record
Every field below overrides synth/config.py, where each field is documented.
"""
from synth.config import ConfigError, base_config, parse_config_args
from synth.models import PRESETS

# Task -> number of classes (0 = seq2seq only).
TASKS = {"boolq": 2, "cb": 3, "copa": 2, "multirc": 2, "record": 0, "rte": 2, "wic": 2,
         "wsc.fixed": 2}
HEADS = ("text_to_text", "classifier")


def get_config(arg: str | None = None):
  # task: a SuperGLUE task; variant: the self-attention variant; pretrained: the C4 workdir to
  # start from (text_to_text only; empty = from scratch); head: text_to_text or classifier.
  args = parse_config_args(arg, task="boolq", variant="vanilla", pretrained="",
                           head="text_to_text")
  task, head = args["task"], args["head"]
  if task not in TASKS:
    raise ConfigError(f"task must be one of {', '.join(TASKS)}, got '{task}'")
  if head not in HEADS:
    raise ConfigError(f"head must be one of {', '.join(HEADS)}, got '{head}'")
  if head == "classifier" and not TASKS[task]:
    raise ConfigError(f"super_glue/{task} predicts text: use head=text_to_text")
  if head == "classifier" and args["pretrained"]:
    raise ConfigError("pretrained runs are encoder-decoders: use head=text_to_text with them")
  c = base_config()
  # T5-base size (12+12 layers, d 768, 12 heads, FFN 3072, N 512, vocab 32128).
  c.model.update(PRESETS["t5_base"]())
  c.model.variant = args["variant"]
  # SuperGLUE as T5: 512 input tokens; label names and ReCoRD entities fit in 32 target tokens.
  c.data.source = f"super_glue/{task}"
  c.data.seq_len = 512
  c.data.max_input_len = 512
  c.data.max_target_len = 32
  # Pack several examples per row.
  c.data.pack = True
  # The pre-training vocabulary: 32028 SentencePiece pieces + 100 sentinel ids.
  c.data.extra_ids = 100
  if args["pretrained"]:
    c.data.vocab_path = f"{args['pretrained']}/vocab/spm_32028.model"
    # Start from the pre-trained parameters (only; the optimizer starts fresh).
    c.init_from = args["pretrained"]
  # T5's fine-tuning batch: 128 rows.
  c.data.batch_size = 128
  c.data.eval_batch_size = 128

  if head == "classifier":
    # An encoder with a mean-pooled head over the same inputs, labels as ids.
    c.model.kind = "encoder_classifier"
    c.model.num_classes = TASKS[task]
    c.data.extra_ids = 0

  # T5's fine-tuning optimizer: Adafactor at a constant 1e-3.
  c.optimizer.name = "adafactor"
  c.optimizer.schedule = "constant"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.warmup_steps = 0
  c.optimizer.grad_clip_norm = 0.0

  # A single-task fine-tune of 25k steps (T5 fine-tuned 2^18 steps on the SuperGLUE mixture).
  c.train.num_steps = 25_000
  c.train.log_every = 100
  c.train.eval_every = 1000
  c.train.checkpoint_every = 1000

  # Predictions are label names or entities: greedy decoding of at most 32 tokens.
  c.eval.method = "greedy"
  c.eval.max_decode_len = 32
  c.eval.num_samples = 8
  return c
