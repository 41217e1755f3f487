"""The run config: every field a task config may set, with its default, and the one loader of
config files and overrides, behind `synth train|eval|decode --config`, `synth sweep` and the
tests.

Task configs in configs/ start from `base_config()` and change what their task needs. Keeping all
fields here means a dotted override of a field that does not exist fails before any work starts,
and every config is documented in one place. The model's fields are the dataclass ModelFields
rather than ConfigDict entries: the typed view the model constructors take
(synth.models.ModelConfig) is that dataclass with checks added, so each architecture field is
defined, defaulted and documented once, here.

A config is named by a spec, 'path/to/file.py[:key=value,...]': the file's get_config(arg) builds
it from base_config(), reading its own arguments with parse_config_args. configs/<name>.py also
finds the files shipped inside the package (resolve_shipped).

An override sets one field by its dotted name. On the command line it is the flag
`--config.train.num_steps=100` and its value is text, read by the type of the field's current
value (int, float, bool, str, or a tuple/list written as a Python literal); in Python it is
{'train.num_steps': 100}, whose values are checked against the same types. A name the config
does not have, or a value of the wrong type, is a one-line ConfigError before any work starts.

This module imports nothing else from synth at its top, so config files stay light.
"""
import ast
import dataclasses
import importlib.resources
import os
import runpy
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections


@dataclasses.dataclass(frozen=True)
class ModelFields:
  """config.model: the architecture, each field defined, defaulted and documented here once.
  synth.models.ModelConfig is this dataclass with the checks that need the attention registry
  added, and the model constructors take it."""
  # Architecture: 'decoder' (LM), 'encoder_decoder' (MT, summarisation, T5) or 'encoder_classifier'.
  kind: str = "decoder"
  # Self-attention variant: a name in synth.attention.VARIANTS or a '+'-joined mixture of them,
  # or a baseline token mixer alone: 'lightweight_conv', 'dynamic_conv' or 'linformer'
  # (linformer cannot be causal: encoder_classifier only).
  variant: str = "vanilla"
  # How a mixture weights its logits: 'sum', 'sigmoid' or 'softmax' (the paper's equation).
  mixture: str = "softmax"
  # Factorized dense sizes a * b = max_len; 0 picks the most balanced pair.
  factor_a: int = 0
  factor_b: int = 0
  # Factorized random rank k (the paper uses 8).
  factor_k: int = 8
  # Vocabulary size (shared by source and target); must match the tokenizer.
  vocab_size: int = 32000
  # Model width d, heads H, feed-forward width.
  d_model: int = 512
  num_heads: int = 8
  d_ff: int = 2048
  # Layers: the decoder-only LM uses num_decoder_layers; the classifier num_encoder_layers.
  num_encoder_layers: int = 6
  num_decoder_layers: int = 6
  # N: the longest sequence synthetic attention parameters are sized for (hard limit).
  max_len: int = 256
  # 'sinusoidal' or 'learned' absolute position embeddings.
  positions: str = "sinusoidal"
  # 'pre' (pre-LN, stable for deep and long runs) or 'post' (post-LN, the original Transformer).
  norm: str = "pre"
  # Share input embeddings and output projection (and encoder/decoder embeddings).
  tie_embeddings: bool = True
  # Dropout on residual branches/embeddings, and on attention weights.
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.0
  # Compute dtype: 'float32' or 'bfloat16' (parameters and softmax stay float32).
  dtype: str = "float32"
  # Number of output classes of the encoder classifier (1 = regression).
  num_classes: int = 2
  # Rematerialise each layer in the backward pass (saves memory, costs ~1/3 more compute).
  remat: bool = False
  # What a rematerialised layer keeps for the backward pass (only read when remat is on):
  # 'full' (nothing but its input: least memory, most recompute), 'dots' (every matmul output,
  # attention logits included: O(n^2) memory per head, recomputes only elementwise ops) or
  # 'dots_no_batch' (weight matmuls only: memory linear in n, recomputes the attention products).
  remat_policy: str = "full"
  # T5's relative position bias (32 buckets, max distance 128) added to self-attention logits,
  # one table per stack shared by its layers; works with any variant that has logits.
  relative_bias: bool = False
  # Conv kernel sizes K by layer: layer i uses entry min(i, len - 1). Wu et al. (2019):
  # (3, 7, 15, 31, 31, 31, 31), whose first 6 are also their decoder's; (7,) = K 7 everywhere.
  conv_kernel_sizes: tuple[int, ...] = (7,)
  # Linformer's projected length k of keys and values (Wang et al. use 256 for n = 512).
  linformer_k: int = 32
  # How dot-product attention (vanilla, mixtures with vanilla, cross-attention) is computed:
  # 'einsum' (our einsums, writes every (batch, heads, n, n) tensor; the default and the only one
  # with attention dropout or returned weights), 'xla' or 'cudnn' (jax.nn.dot_product_attention;
  # cudnn is GPU flash attention, bf16 only, and skips the masked half of causal attention).
  # synth/attention/fused.py says what each supports.
  attention_impl: str = "einsum"
  # Causal Random-family attention multiplies its shared weights with the values block by block,
  # skipping the zero upper triangle: 0 = dense, -1 = automatic (n/8 blocks from n = 1024 on
  # accelerators, dense on CPU where it was measured slower), or a block size.
  causal_block: int = -1
  # Run each stack's layers as one nnx.scan over stacked parameters (created with nnx.vmap):
  # compile time stops growing with depth. Checkpoints then hold (layers, ...) arrays, so they do
  # not load into an unscanned model; no shared relative bias, one conv kernel size.
  scan_layers: bool = False


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Seed for parameter init, dropout and data shuffling; a resumed run reuses it.
  c.seed = 0
  # Path of another run's workdir or checkpoint step dir to initialise params (only) from.
  c.init_from = ""

  # The architecture: ModelFields (above) documents every field.
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


def check_config(config) -> None:
  """Checks the fields that need neither the model code nor data: the optimizer, and the train
  and data sizes; raises ConfigError. synth.models.ModelConfig.for_run adds the model's checks
  and runs these first."""
  # Imported here: config files import synth.config, and optax is heavier than they need.
  from synth.train.optimizer import make_optimizer

  try:
    make_optimizer(config.optimizer, num_steps=int(config.train.num_steps))
  except ValueError as e:
    raise ConfigError(str(e)) from None
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


# -------------------------------------------------------------------------------------------------
# Config files shipped inside the package
# -------------------------------------------------------------------------------------------------

# The directories of the package that ship config and experiment files: configs/ and experiments/
# are part of the installed package (as synth/configs and synth/experiments), so the README's
# `--config=configs/lm_python_docs.py` and `synth sweep experiments/cpu_offline.py` work after a
# plain `pip install`, from any directory. A path that exists where the command runs always
# wins, so a checkout's or a user's own files are used first.
SHIPPED_DIRS = ("configs", "experiments")


def shipped_root() -> str:
  """The directory that holds the package's configs/ and experiments/."""
  return str(importlib.resources.files("synth"))


def resolve_shipped(path: str) -> str:
  """`path` if it exists here, else the shipped file of that name (configs/x.py or
  experiments/x.py); anything else is returned unchanged, for the caller's own error."""
  if os.path.exists(path):
    return path
  parts = os.path.normpath(path).split(os.sep)
  if len(parts) == 2 and parts[0] in SHIPPED_DIRS:
    shipped = os.path.join(shipped_root(), *parts)
    if os.path.isfile(shipped):
      return shipped
  return path


def missing_file_message(kind: str, path: str) -> str:
  """One line for a config or experiment file that is neither here nor shipped."""
  return (f"{kind} file '{path}' does not exist (here, or among the package's own configs/ "
          f"and experiments/ in {shipped_root()})")


# -------------------------------------------------------------------------------------------------
# Loading a config file and applying overrides
# -------------------------------------------------------------------------------------------------

# The command-line prefix of an override: --config.section.field=value.
FLAG_PREFIX = "--config."


def load_config(spec: str, overrides: Mapping[str, Any] | None = None) -> ml_collections.ConfigDict:
  """The config a spec names, with `overrides` applied; every failure is a ConfigError."""
  path, _, arg = spec.partition(":")
  resolved = resolve_shipped(path)
  if not os.path.isfile(resolved):
    raise ConfigError(missing_file_message("config", path))
  try:
    get_config = runpy.run_path(resolved)["get_config"]
  except KeyError:
    raise ConfigError(f"config file '{resolved}' defines no get_config()") from None
  except SyntaxError as e:
    raise ConfigError(f"{resolved}:{e.lineno}: {e.msg}: fix the config file") from None
  try:
    config = get_config(arg) if arg else get_config()
  except ConfigError as e:
    raise ConfigError(f"{resolved}: {e}") from None
  return apply_overrides(config, overrides or {})


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """Sets each dotted field of `overrides` in `config` (in place; also returned). Text values
  are parsed by the field's type, as on the command line; others must already have it."""
  for name, value in overrides.items():
    *parents, field = name.split(".")
    node = config
    for part in parents:
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        raise ConfigError(_unknown(name))
      node = node[part]
    if not isinstance(node, ml_collections.ConfigDict) or field not in node:
      raise ConfigError(_unknown(name))
    current = node[field]
    if isinstance(current, ml_collections.ConfigDict):
      raise ConfigError(f"--config.{name} names a section of the config, not a field")
    if isinstance(value, str) and not isinstance(current, str):
      value = parse_value(name, value, current)
    node[field] = _checked(name, value, current)
  return config


def parse_value(name: str, text: str, current: Any) -> Any:
  """Command-line text -> a value of `current`'s type for field `name` (a field holding None
  takes the text as it is)."""
  if current is None:
    return text
  kind = type(current)
  if kind not in _PARSERS:
    raise ConfigError(f"--config.{name} cannot be set from the command line (a {kind.__name__} "
                      f"field)")
  try:
    return _PARSERS[kind](text)
  except (ValueError, SyntaxError):
    want = {bool: "true or false", int: "an integer", float: "a number",
            tuple: "a tuple, e.g. (3, 7)", list: "a list, e.g. [3, 7]"}[kind]
    raise ConfigError(f"--config.{name}={text} is not {want}") from None


def _sequence(kind):
  def parse(text: str):
    value = ast.literal_eval(text)
    return kind(value if isinstance(value, (tuple, list)) else (value,))
  return parse


# How command-line text becomes a value, by the type of the field's current value.
_PARSERS = {bool: parse_bool, int: int, float: float, tuple: _sequence(tuple),
            list: _sequence(list)}


def override_flags(overrides: Mapping[str, Any]) -> list[str]:
  """The command-line flags that apply `overrides` (what a sweep passes to `synth train`)."""
  return [f"{FLAG_PREFIX}{name}={_text(value)}" for name, value in overrides.items()]


def split_override_flags(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
  """({field: text} of the --config.a.b=value flags, the other arguments in order)."""
  overrides, rest = {}, []
  for arg in argv:
    if arg.startswith(FLAG_PREFIX):
      name, sep, text = arg[len(FLAG_PREFIX):].partition("=")
      if not sep or not name:
        raise ConfigError(f"{arg}: an override is --config.section.field=value")
      overrides[name] = text
    else:
      rest.append(arg)
  return overrides, rest


def _checked(name: str, value: Any, current: Any) -> Any:
  """`value` if it fits a field holding `current` (ints fit float fields), else ConfigError."""
  if current is None or value is None:
    return value
  if isinstance(current, bool) != isinstance(value, bool):
    raise ConfigError(f"--config.{name}={value!r} is not a bool like the field's {current!r}")
  if isinstance(current, float) and isinstance(value, int):
    return float(value)
  if isinstance(current, (tuple, list)) and isinstance(value, (tuple, list)):
    return type(current)(value)
  if not isinstance(value, type(current)):
    raise ConfigError(f"--config.{name}={value!r} is of type {type(value).__name__}, but the "
                      f"field holds a {type(current).__name__} ({current!r})")
  return value


def _text(value: Any) -> str:
  """A value as override text that parse_value reads back."""
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, (tuple, list)):
    return repr(tuple(value) if isinstance(value, tuple) else list(value))
  return str(value)


def _unknown(name: str) -> str:
  return (f"unknown config field '{name}' (from --config.{name}); synth/config.py lists the "
          f"fields")
