"""`synth decode`: a trained checkpoint applied to arbitrary text, one output line per input line.

A decoder LM continues each line (the line is the prompt); an encoder-decoder maps each line to
its output (a translation, a summary, a T5 target). Decoding settings come from config.eval.
Text is read and written with the run's tokenizer (synth.data.tasks.run_tokenizer): the
SentencePiece model the run trained, or the fixed vocabulary of a task that brings its own
(mqar, listops), whose lines are symbols separated by spaces.
"""
import sys
from typing import Iterable, TextIO

import jax
import jax.numpy as jnp
import numpy as np

from synth.data.tasks import run_tokenizer
from synth.data.tokenizer import EOS_ID
from synth.eval.decoding import check_decode_length, make_generate_fn, token_lists
from synth.eval.evaluate import decode_options, eval_mesh
from synth.models import ModelConfig
from synth.parallel import batch_sharding


def _batches(lines: list[str], size: int):
  for start in range(0, len(lines), size):
    yield lines[start:start + size]


def decode_lines(config, workdir: str, lines: Iterable[str], *, step: int | None = None,
                 devices=None) -> list[str]:
  """Decodes each input line with the run's checkpoint (default: latest); returns the outputs."""
  from synth.train.trainer import load_checkpoint
  model_cfg = ModelConfig.from_config(config.model)
  options = decode_options(config)
  length = options.max_length or model_cfg.max_len
  check_decode_length(model_cfg, length)
  tokenizer = run_tokenizer(config, workdir)
  mesh = eval_mesh(config, devices)
  layout, state, rngs = load_checkpoint(config, workdir, mesh, step)
  sharding = batch_sharding(mesh, tuple(tuple(r) for r in config.mesh.rules))
  generate = make_generate_fn(model_cfg, options, lambda s: layout.parts.merge(*s, train=False),
                              batch_sharding=sharding)
  lines = [line.rstrip("\n") for line in lines]
  # Pad every batch to a multiple of the data-parallel width so it shards evenly.
  width = int(np.prod([mesh.shape[a] for a in ("data", "fsdp")]))
  batch_size = max(width, (config.data.eval_batch_size // width) * width)
  outputs = []
  for i, chunk in enumerate(_batches(lines, batch_size)):
    ids = [tokenizer.encode(line) for line in chunk]
    if model_cfg.kind == "decoder":
      # A prompt needs at least one token and must leave room for the continuation.
      ids = [(t or [EOS_ID])[-(length - 1):] for t in ids]
    else:
      ids = [t[:model_cfg.max_len - 1] + [EOS_ID] for t in ids]
    width_tokens = max(len(t) for t in ids)
    array = np.zeros((batch_size, width_tokens), np.int32)
    array[:, 0] = EOS_ID  # filler rows (beyond the real lines) decode a harmless 1-token prompt
    for row, t in enumerate(ids):
      array[row, :len(t)] = t
    out = generate((state["params"], state["frozen"], rngs), jnp.asarray(array),
                   jax.random.fold_in(jax.random.key(config.seed), i))
    starts = [len(t) for t in ids] + [1] * (batch_size - len(ids))
    rows = token_lists(out.tokens, start=starts if model_cfg.kind == "decoder" else 0)
    outputs += [tokenizer.decode(r) for r in rows[:len(chunk)]]
  return outputs


def decode_file(config, workdir: str, input_path: str, output: TextIO = sys.stdout, **kwargs):
  """Reads `input_path` ('-' = stdin), writes one decoded line per input line to `output`."""
  if input_path == "-":
    lines = sys.stdin.readlines()
  else:
    with open(input_path) as f:
      lines = f.readlines()
  for text in decode_lines(config, workdir, lines, **kwargs):
    # Every line break Python knows (also \x1c-\x1e, \u2028) becomes a space: one line out
    # per line in.
    output.write(" ".join(text.splitlines()) + "\n")
  output.flush()
