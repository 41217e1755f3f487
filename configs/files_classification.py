"""An encoder classifier on your own labelled text: TSV (a header line, then tab-separated rows)
or JSONL files with a text and a label column.

  synth train --workdir=workdirs/my_classifier --config=configs/files_classification.py:\
train=data/train.jsonl,eval=data/dev.jsonl,format=jsonl,num_classes=3

Labels are class ids 0..num_classes-1, or names listed in --config.data.label_names
(e.g. "('neg', 'pos')"); num_classes=1 makes it regression on float labels. The columns are
'text' and 'label' unless --config.data.text_field / label_field say otherwise. A missing file,
a malformed line or an unknown label is an error naming the file and line before training
starts. Every field below overrides synth/config.py, where each field is documented.
"""
from synth.config import ConfigError, base_config, parse_config_args

FORMATS = ("tsv", "jsonl")


def get_config(arg: str | None = None):
  # variant: the self-attention variant; train / eval: glob patterns of the training and
  # validation files; format: tsv or jsonl; num_classes: classes (1 = regression).
  args = parse_config_args(arg, variant="vanilla", train="", eval="", format="tsv",
                           num_classes=2)
  if args["format"] not in FORMATS:
    raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got '{args['format']}'")
  c = base_config()
  # A small encoder (4 layers, d 256) with a mean-pooled head.
  c.model.kind = "encoder_classifier"
  c.model.variant = args["variant"]
  c.model.num_classes = args["num_classes"]
  c.model.vocab_size = 8000
  c.model.d_model = 256
  c.model.num_heads = 4
  c.model.d_ff = 1024
  c.model.num_encoder_layers = 4
  c.model.max_len = 256

  # Labelled text from local files.
  c.data.source = "files"
  c.data.train_files = args["train"]
  c.data.eval_files = args["eval"]
  c.data.file_format = args["format"]
  c.data.text_field = "text"
  c.data.label_field = "label"
  # Texts cut to 256 tokens, one per row.
  c.data.seq_len = 256
  c.data.batch_size = 32
  c.data.eval_batch_size = 32

  # Adam, rsqrt decay after 500 warmup steps.
  c.optimizer.learning_rate = 5e-4
  c.optimizer.warmup_steps = 500

  # 5k steps, evaluated every 500.
  c.train.num_steps = 5000
  c.train.log_every = 100
  c.train.eval_every = 500
  c.train.checkpoint_every = 500
  return c
