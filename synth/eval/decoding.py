"""Decoding with the synth models: greedy, sampling or beam search, jitted and batch-shardable.

    options = DecodeOptions(method="beam", beam_size=4, alpha=0.6, max_length=128)
    decoded = generate(model, inputs, options)                  # an nnx model, eagerly
    fn = make_generate_fn(model_config, options, merge)         # or a jitted function of the state
    decoded = fn(model_state, inputs, rng)

A DecoderLM continues prompts: `inputs` (B, P) holds one prompt per row, left-aligned and padded
with 0 (a prompt has at least one token: the LMs have no bos). Every row is decoded from
position 0: while a row is inside its prompt its next token is forced to the prompt's, so each
prompt sits at its true positions (which Random and Dense attention index by) and rows of
different lengths share one cache and one decode position. `tokens` is (B, max_length): the
prompt followed by the continuation. An EncoderDecoder decodes from encoder inputs (B, S),
feeding `start_id` (0, T5's convention) first; `tokens` (B, max_length) holds the outputs only.
Padding (0) is never generated: it would read as the end of the sequence everywhere downstream.

The model is split with nnx.split once inside the jitted function; its decoding cache
(nnx.Cache variables) is the search loop's carry and the model is re-merged in every step, so
the per-variant cache (values only for pure synthesizers, keys too with a dot-product
component) is what decoding uses. For beam search that cache and the encoder memory are expanded
to batch * beam_size rows (synth.eval.search).

Lengths are checked before anything is traced: length-bound variants (every one but plain
vanilla) and learned positions cannot decode past the model's max_len.
"""
import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from synth.attention import is_length_bound
from synth.eval.search import (Decoded, beam_search, check_no_repeat, check_sampling,
                               expand_beams, greedy_search, sample_search)
from synth.kinds import MODEL_KINDS, model_kind
from synth.models import ModelConfig
from synth.token_ids import EOS_ID, PAD_ID

METHODS = ("greedy", "sample", "beam")


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
  """How to decode. The defaults are the paper's translation setup: beam 4, alpha 0.6.

  method: 'greedy', 'sample' or 'beam'.
  max_length: length of the returned sequences (a decoder LM's prompt included); None = the
    model's max_len.
  beam_size, alpha: beam width and GNMT length-penalty exponent ((5 + len) / 6)^alpha.
  no_repeat_ngram_size: no n-gram of this size twice in an output, in every method (0 = off).
  temperature, top_k, top_p: sampling only; top_k 0 and top_p 1 disable those filters.
  eos_id: ends a sequence. start_id: the first decoder input of an encoder-decoder.
  """
  method: str = "beam"
  max_length: int | None = None
  beam_size: int = 4
  alpha: float = 0.6
  temperature: float = 1.0
  top_k: int = 0
  top_p: float = 1.0
  no_repeat_ngram_size: int = 0
  eos_id: int = EOS_ID
  start_id: int = PAD_ID

  def __post_init__(self):
    if self.method not in METHODS:
      raise ValueError(f"decode method '{self.method}' is not one of {', '.join(METHODS)}")
    if self.max_length is not None and self.max_length < 1:
      raise ValueError(f"max_length must be >= 1, got {self.max_length}")
    if self.beam_size < 1:
      raise ValueError(f"beam_size must be >= 1, got {self.beam_size}")
    if self.alpha < 0:
      raise ValueError(f"length penalty alpha must be >= 0, got {self.alpha}")
    check_sampling(self.temperature, self.top_k, self.top_p)
    check_no_repeat(self.no_repeat_ngram_size)


def check_decode_length(model_config: ModelConfig, length: int, what: str = "decode"):
  """Raises a ValueError if the model cannot process `length` positions.

  Variants with parameters sized by max_len (synth.attention.is_length_bound) and learned
  position tables have no row for a position past max_len; vanilla with sinusoidal positions has
  no limit.
  """
  cfg = model_config
  if is_length_bound(cfg.variant) and length > cfg.max_len:
    raise ValueError(f"cannot {what} {length} positions with attention variant '{cfg.variant}': "
                     f"it is length-bound to max_len={cfg.max_len}; lower the length or use a "
                     "model trained with a larger max_len")
  if cfg.positions == "learned" and length > cfg.max_len:
    raise ValueError(f"cannot {what} {length} positions with learned position embeddings of "
                     f"max_len={cfg.max_len} (variant '{cfg.variant}'); lower the length")


def _search(options: DecodeOptions, step_fn, cache, first, length, rng, forced=None,
            num_forced=None) -> Decoded:
  common = dict(eos_id=options.eos_id, forced=forced, num_forced=num_forced, blocked=(PAD_ID,),
                no_repeat_ngram_size=options.no_repeat_ngram_size)
  if options.method == "greedy":
    return greedy_search(step_fn, cache, first, length, **common)
  if options.method == "sample":
    return sample_search(step_fn, cache, first, length, rng, temperature=options.temperature,
                         top_k=options.top_k, top_p=options.top_p, **common)
  return beam_search(step_fn, cache, first, length, beam_size=options.beam_size,
                     alpha=options.alpha, **common)


def _split_cache(model: nnx.Module, batch: int, length: int, constrain):
  """Allocates the model's cache and splits it off: (graphdef, cache state, the rest)."""
  model.init_cache(batch, length)
  graphdef, cache, rest = nnx.split(model, nnx.Cache, ...)
  return graphdef, constrain(cache), rest


def _decode_lm(model, prompts, rng, options: DecodeOptions, length: int, constrain) -> Decoded:
  """Continues left-aligned prompts (B, P) to sequences of `length` tokens."""
  batch, width = prompts.shape
  prompt_lengths = jnp.sum(prompts != PAD_ID, axis=1, dtype=jnp.int32)
  # Step t feeds token t and chooses token t + 1; the prompt's tokens 1.. are forced.
  steps = length - 1
  forced = jnp.zeros((batch, steps), jnp.int32).at[:, :width - 1].set(prompts[:, 1:steps + 1])
  graphdef, cache, rest = _split_cache(model, batch, length, constrain)

  def step_fn(tokens, cache):
    step_model = nnx.merge(graphdef, cache, rest)
    logits = step_model(tokens[:, None], decode=True)[:, 0]
    return logits, constrain(nnx.state(step_model, nnx.Cache))

  out = _search(options, step_fn, cache, prompts[:, 0], steps, rng, forced,
                jnp.maximum(prompt_lengths - 1, 0))
  return out._replace(tokens=jnp.concatenate([prompts[:, :1].astype(jnp.int32), out.tokens], 1))


def _decode_encoder_decoder(model, inputs, rng, options: DecodeOptions, length: int,
                            constrain) -> Decoded:
  """Decodes `length` output tokens from encoder inputs (B, S)."""
  batch = inputs.shape[0]
  memory = constrain(model.encode(inputs))
  memory_mask = inputs != PAD_ID
  if options.method == "beam":
    memory, memory_mask = expand_beams((memory, memory_mask), options.beam_size)
  graphdef, cache, rest = _split_cache(model, batch, length, constrain)

  def step_fn(tokens, cache):
    step_model = nnx.merge(graphdef, cache, rest)
    logits = step_model.decode(tokens[:, None], memory, memory_mask, decode=True)[:, 0]
    return logits, constrain(nnx.state(step_model, nnx.Cache))

  first = jnp.full((batch,), options.start_id, jnp.int32)
  return _search(options, step_fn, cache, first, length, rng)


def make_generate_fn(model_config: ModelConfig, options: DecodeOptions,
                     merge: Callable[[Any], nnx.Module], *, batch_sharding=None):
  """Returns generate_fn(model_state, inputs, rng=None) -> Decoded, jitted.

  Args:
    model_config: the model's ModelConfig (kind 'decoder' or 'encoder_decoder').
    options: DecodeOptions; max_length is checked against the model here.
    merge: model_state -> model, called inside jit; e.g. `lambda s: nnx.merge(graphdef, s)` or,
      with a training state, `lambda s: parts.merge(*s, train=False)` for s = (params, frozen,
      rngs). Dropout is switched off whatever the graph says.
    batch_sharding: optional jax Sharding of the batch axis (e.g. NamedSharding(mesh,
      P('data'))): inputs, caches, encoder memory and outputs are constrained to it, so each
      device decodes its own rows (with beams, rows of one example stay on its device). The
      batch must divide evenly over it.
  Inputs are prompts (B, P) for a decoder LM, source tokens (B, S) for an encoder-decoder; rng
  (a jax key) is used by sampling only.
  """
  cfg = model_config
  kind = model_kind(cfg.kind)
  if not kind.decodes:
    raise ValueError(f"cannot decode with a model of kind '{cfg.kind}'; decoding needs one of "
                     f"{', '.join(k.name for k in MODEL_KINDS.values() if k.decodes)}")
  length = options.max_length or cfg.max_len
  check_decode_length(cfg, length)
  if kind.continues_prompts and length < 2:
    raise ValueError(f"a decoder LM needs max_length >= 2 (prompt and one token), got {length}")

  def constrain(tree):
    if batch_sharding is None:
      return tree
    return jax.tree.map(lambda x: x if x.ndim == 0 else
                        jax.lax.with_sharding_constraint(x, batch_sharding), tree)

  def generate_fn(model_state, inputs, rng):
    model = merge(model_state)
    model.eval()
    inputs = constrain(inputs)
    if kind.continues_prompts:
      out = _decode_lm(model, inputs, rng, options, length, constrain)
    else:
      out = _decode_encoder_decoder(model, inputs, rng, options, length, constrain)
    return constrain(out)

  jitted = jax.jit(generate_fn)

  def checked(model_state, inputs, rng=None):
    """Checks the input shape against the model, then runs the jitted decoder."""
    inputs = jnp.asarray(inputs)
    if inputs.ndim != 2 or inputs.shape[1] < 1:
      raise ValueError(f"inputs must be (batch, length) token ids, got shape {inputs.shape}")
    if kind.continues_prompts and inputs.shape[1] > length:
      raise ValueError(f"prompts of width {inputs.shape[1]} do not fit max_length={length}")
    if kind.cross_attention:
      check_decode_length(cfg, inputs.shape[1], "encode")
    if batch_sharding is not None:
      try:
        batch_sharding.shard_shape((inputs.shape[0],))
      except ValueError:
        raise ValueError(f"batch {inputs.shape[0]} does not divide evenly over the batch "
                         f"sharding {batch_sharding}") from None
    return jitted(model_state, inputs, jax.random.key(0) if rng is None else rng)

  return checked


@functools.lru_cache(maxsize=32)
def _generate_fn_for(graphdef, model_config: ModelConfig, options: DecodeOptions,
                     batch_sharding):
  return make_generate_fn(model_config, options, lambda state: nnx.merge(graphdef, state),
                          batch_sharding=batch_sharding)


def generate(model: nnx.Module, inputs, options: DecodeOptions = DecodeOptions(), *, rng=None,
             batch_sharding=None) -> Decoded:
  """Decodes `inputs` with an nnx model (which is not modified); compiled once per model
  structure, options and input shape."""
  graphdef, state = nnx.split(model)
  fn = _generate_fn_for(graphdef, model.config, options, batch_sharding)
  return fn(state, inputs, rng)


def token_lists(tokens, *, start=0, eos_id: int = EOS_ID) -> list[list[int]]:
  """Host-side ids per row: from `start` (an int or one per row, e.g. the prompt lengths) up to,
  not including, the first eos; padding dropped. Feed these to the tokenizer's decode."""
  tokens = np.asarray(tokens)
  starts = np.broadcast_to(np.asarray(start), (tokens.shape[0],))
  rows = []
  for row, begin in zip(tokens, starts):
    ids = row[int(begin):]
    ends = np.flatnonzero(ids == eos_id)
    ids = ids[:ends[0]] if ends.size else ids
    rows.append([int(i) for i in ids if i != PAD_ID])
  return rows
