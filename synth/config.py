"""The base experiment config: every field a task config may set, each with its default.

Task configs in configs/ start from `base_config()` and change what their task needs. Keeping all
fields here means a dotted override of a field that does not exist fails before any work starts
(ml_collections raises on unknown keys), and every config is documented in one place.

The model's fields are the dataclass synth.model_fields.ModelFields rather than ConfigDict
entries here: the typed view the model constructors take (synth.models.ModelConfig) is that
dataclass with checks added, so each architecture field is defined, defaulted and documented
once, there.
"""
import dataclasses

import ml_collections

from synth.model_fields import ModelFields


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Seed for parameter init, dropout and data shuffling; a resumed run reuses it.
  c.seed = 0
  # Path of another run's workdir or checkpoint step dir to initialise params (only) from.
  c.init_from = ""

  # The architecture: synth/model_fields.py documents every field.
  c.model = ml_collections.ConfigDict(dataclasses.asdict(ModelFields()))

  c.data = d = ml_collections.ConfigDict()
  # Where examples come from: a task name in synth.data.TASKS, e.g. 'python_docs' (offline,
  # ships with Python), 'lm1b', 'c4', 'c4_span', 'wmt14/en-de', 'glue/mnli', 'super_glue/boolq',
  # 'cnn_dailymail', 'personachat' (ParlAI's files in data_dir), 'imdb_reviews', or 'files' (the
  # local files below).
  d.source = "python_docs"
  # Tokens per row: LM rows (packed), classifier inputs, and encoder-decoder rows unless
  # max_input_len / max_target_len say otherwise. Global batch size in rows.
  d.seq_len = 128
  d.batch_size = 32
  d.eval_batch_size = 32
  # Encoder-decoder tokens per row on the input and target side, eos included (0 = seq_len).
  d.max_input_len = 0
  d.max_target_len = 0
  # Training drops encoder-decoder pairs longer than those instead of cutting them (eval always
  # cuts, so that every eval example counts once).
  d.drop_long = False
  # Pack several examples into each row (segment ids + positions) instead of padding.
  d.pack = True
  # SentencePiece vocab path; empty = train one on first use and cache it in the workdir.
  d.vocab_path = ""
  # The vocabulary is trained on at most this many training examples, spread over the split.
  d.vocab_train_examples = 1_000_000
  # Ids kept free at the top of model.vocab_size for span-corruption sentinels (T5: 100); the
  # SentencePiece model gets model.vocab_size - extra_ids pieces.
  d.extra_ids = 0
  # T5 span corruption (data.source 'c4_span'): fraction of tokens dropped, mean span length.
  d.noise_density = 0.15
  d.mean_noise_span_length = 3.0
  # Directory for downloaded/prepared data (TFDS data_dir, offline corpora, PersonaChat files).
  d.data_dir = ""
  # data.source 'personachat': 'original' or 'revised' personas (ParlAI's *_self_original.txt or
  # *_self_revised.txt files).
  d.persona = "original"
  # Cap on eval examples (0 = the whole split); eval never drops or repeats an example.
  d.max_eval_examples = 0
  # Threads that read and tokenize training examples (0 = in the training thread). The order
  # of the examples, so a resumed run's data, does not depend on it.
  d.read_threads = 0
  # data.source 'files': comma-separated glob patterns of the train and validation files.
  d.train_files = ""
  d.eval_files = ""
  # 'text' (LM: one example per line, or per blank-line-separated paragraph with
  # text_unit='paragraph'), 'tsv' (a header line naming the columns, then tab-separated rows)
  # or 'jsonl' (one JSON object per line). The model kind picks the task: decoder = LM,
  # encoder_decoder = input -> target, encoder_classifier = text -> label.
  d.file_format = "text"
  d.text_unit = "line"
  # Column (tsv) or key (jsonl) names of the fields.
  d.text_field = "text"
  d.label_field = "label"
  d.input_field = "input"
  d.target_field = "target"
  # Class names, in label-id order, when a file's labels are names rather than ids 0..n-1.
  d.label_names = ()

  c.optimizer = o = ml_collections.ConfigDict()
  # 'adam', 'adamw' (adam + decoupled weight decay) or 'adafactor' (factored moments, no momentum).
  o.name = "adam"
  # Peak learning rate, reached at the end of warmup, for every schedule.
  o.learning_rate = 1e-3
  # With s = update + 1, w = warmup_steps: 'rsqrt' = lr * min(s / w, sqrt(w / s)) (the Transformer
  # schedule: it equals d^-0.5 * min(s^-0.5, s * w^-1.5) when lr = (d * w)^-0.5, 7e-4 for d=512,
  # w=4000); 'cosine' = linear warmup then cosine decay to 0 at train.num_steps;
  # 'constant' = linear warmup then lr.
  o.schedule = "rsqrt"
  o.warmup_steps = 100
  # Adam moments and epsilon (the Transformer paper: 0.9, 0.98, 1e-9); adafactor ignores them.
  o.b1 = 0.9
  o.b2 = 0.98
  o.eps = 1e-9
  # Decoupled weight decay (adamw/adafactor), scaled by the schedule like AdamW; applied to
  # weights only (parameters with 2+ dims), never to biases, norm scales, mixture weights or the
  # relative position bias table (synth.train.optimizer says why).
  o.weight_decay = 0.0
  # Clip gradients to this global norm (0 = off).
  o.grad_clip_norm = 1.0
  # Label smoothing of the cross-entropy targets.
  o.label_smoothing = 0.0
  # Accumulate gradients over this many micro-batches per update.
  o.grad_accum_steps = 1

  c.train = t = ml_collections.ConfigDict()
  # Total optimizer updates.
  t.num_steps = 1000
  # Log training metrics every this many steps.
  t.log_every = 50
  # Evaluate on the validation split every this many steps (0 = only at the end).
  t.eval_every = 500
  # Number of eval batches per periodic evaluation (0 = the whole split).
  t.eval_steps = 0
  # Save a checkpoint every this many steps; keep the last `keep` and the `keep_best` best.
  t.checkpoint_every = 500
  t.keep = 3
  t.keep_best = 1
  # When a run resumes on a different number of processes than saved its checkpoint (whose
  # per-process data positions then cannot apply), restore only the model and optimizer and
  # restart the input pipeline from its beginning, seeing early examples again. No effect when
  # the process count is unchanged.
  t.reset_data_on_resume = False
  # Eval metric that ranks checkpoints for keep_best, and whether lower is better.
  t.best_metric = "loss"
  t.best_mode = "min"
  # Trace the steps START <= step < STOP ('START:STOP', numbered from 1 as in metrics.jsonl)
  # with jax.profiler into <workdir>/profile, on process 0; '' = no trace.
  t.profile_steps = ""

  c.mesh = ml_collections.ConfigDict()
  # Mesh axis sizes; one may be -1 to take all remaining devices.
  c.mesh.data = -1
  c.mesh.fsdp = 1
  c.mesh.tensor = 1
  # Logical axis -> mesh axis rules (tuples of (logical name, mesh axis or None)).
  c.mesh.rules = (
      ("batch", ("data", "fsdp")),
      ("embed", "fsdp"),
      ("vocab", "tensor"),
      ("heads", "tensor"),
      ("mlp", "tensor"),
      ("kv", None),
      ("length", None),
      ("classes", None),
  )

  c.eval = e = ml_collections.ConfigDict()
  # How `synth eval` and `synth decode` generate text: 'beam', 'greedy' or 'sample'.
  e.method = "beam"
  # Beam width and GNMT length penalty exponent (the paper's translation setup: 4 and 0.6).
  e.beam_size = 4
  e.alpha = 0.6
  # Longest output (LM: prompt + continuation) in tokens; 0 = the model's max_len.
  e.max_decode_len = 0
  # Never repeat an n-gram of this size within an output, in every search method (0 = off).
  e.no_repeat_ngram_size = 0
  # Sampling only: temperature, top-k (0 = off) and nucleus top-p (1 = off).
  e.temperature = 1.0
  e.top_k = 0
  e.top_p = 1.0
  # LM samples: how many tokens of each eval example prompt the continuation.
  e.prompt_len = 16
  # Number of (source, reference, prediction) samples written per evaluation.
  e.num_samples = 8
  # Metrics of decoded/predicted outputs, comma-separated from synth.eval.task_metrics.METRICS
  # ('bleu', 'tokenized_bleu', 'rouge', 'dialogue' or its 'bleu1', 'rougeL', 'meteor', 'cider',
  # 'accuracy', 'glue', 'correlation'); '' = the task's default.
  e.metrics = ""
  # Score at most this many eval examples by decoding (0 = all of data.max_eval_examples).
  e.max_decode_examples = 0
  return c


class ConfigError(ValueError):
  """A config that cannot run; raised before any work starts or any file is written."""


def parse_bool(text: str) -> bool:
  """'true'/'1' or 'false'/'0' (any case), as config arguments and --config overrides write a
  boolean; anything else is a ValueError."""
  lowered = text.strip().lower()
  if lowered not in ("true", "1", "false", "0"):
    raise ValueError(f"not a boolean: {text!r}")
  return lowered in ("true", "1")


def parse_config_args(arg: str | None, **defaults) -> dict:
  """Parses a config file argument 'k1=v1,k2=v2' (from `--config=file.py:k1=v1,k2=v2`).

  Keys must be among `defaults`; values keep the type of their default (str, int, float, bool).
  """
  values = dict(defaults)
  for item in filter(None, (arg or "").split(",")):
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep:
      raise ConfigError(f"config argument '{item}' is not key=value")
    if key not in defaults:
      raise ConfigError(f"unknown config argument '{key}'; known: {', '.join(sorted(defaults))}")
    kind = type(defaults[key])
    if kind is bool:
      try:
        values[key] = parse_bool(value)
      except ValueError:
        raise ConfigError(f"config argument {key}={value} is not a boolean") from None
    else:
      try:
        values[key] = kind(value)
      except ValueError:
        raise ConfigError(f"config argument {key}={value} is not a {kind.__name__}") from None
  return values


def mesh_rules(config) -> tuple[tuple, ...]:
  """config.mesh.rules as a tuple of (logical axis, mesh axes) pairs, whatever sequence type a
  config file or config.json gave them in (lists after a JSON round trip)."""
  return tuple(tuple(rule) for rule in config.mesh.rules)


def spm_vocab_size(config) -> int:
  """Pieces of the SentencePiece model: the model's vocabulary less the data.extra_ids sentinel
  ids kept free at its top."""
  size = int(config.model.vocab_size) - int(config.data.extra_ids)
  if size <= 0 or int(config.data.extra_ids) < 0:
    raise ConfigError(f"data.extra_ids={config.data.extra_ids} leaves no room in "
                      f"model.vocab_size={config.model.vocab_size}")
  return size


def parse_profile_steps(value, num_steps: int | None = None) -> tuple[int, int] | None:
  """train.profile_steps 'START:STOP' -> (START, STOP), or None when it is '' (no trace).

  A string rather than two fields, so that one override turns profiling on and the window reads
  like the Python slice it is. Steps are numbered from 1, as in metrics.jsonl and checkpoints.
  """
  text = str(value).strip()
  if not text:
    return None
  start, sep, stop = text.partition(":")
  try:
    window = (int(start), int(stop))
  except ValueError:
    window = None
  if not sep or window is None or not 1 <= window[0] < window[1]:
    raise ConfigError(f"train.profile_steps='{value}' is not 'START:STOP' with 1 <= START < STOP "
                      f"(steps from 1, as in metrics.jsonl), or '' for no trace")
  if num_steps is not None and window[0] > num_steps:
    raise ConfigError(f"train.profile_steps='{value}' starts after the last step, "
                      f"train.num_steps={num_steps}")
  return window


def validate_config(config) -> None:
  """Checks everything that can be checked without data or devices; raises ConfigError."""
  # Imported here: synth.config is imported by config files, which should stay light.
  from synth.attention import is_length_bound
  from synth.kinds import model_kind
  from synth.models import ModelConfig
  from synth.train.optimizer import make_optimizer

  try:
    model = ModelConfig.from_config(config.model)
    make_optimizer(config.optimizer, num_steps=int(config.train.num_steps))
  except ValueError as e:
    raise ConfigError(str(e)) from None
  # The row lengths the model reads (an encoder-decoder may size each side on its own).
  for name, length in model_kind(model.kind).row_lengths(config).items():
    if is_length_bound(model.variant) and length > model.max_len:
      raise ConfigError(
          f"{name}={length} is longer than model.max_len={model.max_len}, the most that "
          f"attention variant '{model.variant}' supports; lower {name} or raise model.max_len")
  for field in ("num_steps", "log_every", "checkpoint_every"):
    if int(config.train[field]) <= 0:
      raise ConfigError(f"train.{field} must be positive, got {config.train[field]}")
  # .get: the config.json of a run from before the field existed has none (synth eval reads it).
  parse_profile_steps(config.train.get("profile_steps", ""), int(config.train.num_steps))
  for field in ("batch_size", "eval_batch_size", "seq_len"):
    if int(config.data[field]) <= 0:
      raise ConfigError(f"data.{field} must be positive, got {config.data[field]}")
  for field in ("max_input_len", "max_target_len", "extra_ids", "read_threads",
                "vocab_train_examples", "max_eval_examples"):
    if int(config.data[field]) < 0:
      raise ConfigError(f"data.{field} must be >= 0, got {config.data[field]}")
