"""A trained run in Python: `synth.load(workdir)`, then generate and score text.

  import synth
  run = synth.load("workdirs/lm_vanilla")              # latest checkpoint, on the devices present
  run.generate(["def parse(text):"])                    # the run's decoding settings (config.eval)
  run.generate(["def parse(text):"], method="greedy")   # or any eval.* setting for this call
  run.score(["import os\n"])                            # log-likelihood per text (and perplexity)
  run.model, run.tokenizer, run.config                  # the Flax NNX module, tokenizer, config

This is what `synth decode` runs, so a notebook and the command line decode the same way. The
checkpoint restores onto whatever devices exist (the run's mesh if it fits them, else pure data
parallelism), like `synth eval`.
"""
import dataclasses
import functools
import json
import math
import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from safetensors import numpy as safe_numpy

from synth.config import mesh_rules
from synth.data.pipeline import lm_pairs
from synth.data.seq2seq import with_eos
from synth.data.tasks import run_tokenizer
from synth.eval.decoding import check_decode_length, make_generate_fn, token_lists
from synth.eval.evaluate import decode_options, eval_mesh, rows_per_batch
from synth.export_format import EXPORT_FILE, FORMAT, is_export, place_arrays
from synth.kinds import model_kind
from synth.models import ModelConfig
from synth.parallel import batch_sharding
from synth.run_files import load_run_config
from synth.token_ids import EOS_ID
from synth.train import checkpoints as ckpt
from synth.train.restore import load_checkpoint, run_layout
from synth.train.state import init_rngs


@dataclasses.dataclass
class TrainedModel:
  """A restored checkpoint with its config and tokenizer (what synth.load returns)."""
  config: ml_collections.ConfigDict
  workdir: str
  step: int
  tokenizer: object
  mesh: jax.sharding.Mesh
  layout: object  # synth.train.state.StateLayout
  state: dict
  rngs: object
  _generators: dict = dataclasses.field(default_factory=dict, repr=False)

  @property
  def model_config(self) -> ModelConfig:
    return ModelConfig.from_config(self.config.model)

  @property
  def model(self):
    """The Flax NNX module in eval mode (dropout off), its parameters this checkpoint's."""
    return self._merge((self.state["params"], self.state["frozen"], self.rngs))

  @property
  def _kind(self):
    return model_kind(self.model_config.kind)

  def _merge(self, parts):
    return self.layout.parts.merge(*parts, train=False)

  @functools.cached_property
  def _sharding(self):
    return batch_sharding(self.mesh, mesh_rules(self.config))

  def _rows(self, n: int) -> int:
    """Rows per batch (synth.eval.evaluate.rows_per_batch)."""
    return rows_per_batch(self.config, self._sharding)

  def generate(self, texts: Sequence[str], *, seed: int | None = None,
               **eval_settings) -> list[str]:
    """One output per text: a decoder LM's continuation of it, an encoder-decoder's output for
    it. Decoding follows config.eval; keyword arguments override its fields for this call
    (method='greedy', beam_size=1, max_decode_len=64, temperature=0.7, top_k=40, ...). A decoder
    prompt keeps its last tokens when it leaves no room to continue, as `synth decode` does."""
    config = self.config
    if eval_settings:
      unknown = sorted(set(eval_settings) - set(config.eval.keys()))
      if unknown:
        raise ValueError(f"generate() got unknown eval settings {unknown}; the settings are: "
                         f"{', '.join(sorted(config.eval.keys()))}")
      config = ml_collections.ConfigDict(config.to_dict())
      config.eval.update(eval_settings)
    model_cfg = self.model_config
    options = decode_options(config)
    length = options.max_length or model_cfg.max_len
    check_decode_length(model_cfg, length)
    if options not in self._generators:  # one compiled search per setting, reused across calls
      self._generators[options] = make_generate_fn(model_cfg, options, self._merge,
                                                   batch_sharding=self._sharding)
    generate = self._generators[options]
    seed = config.seed if seed is None else seed
    rows = self._rows(len(texts))
    outputs = []
    for i in range(0, len(texts), rows):
      chunk = [t.rstrip("\n") for t in texts[i:i + rows]]
      ids = [self.tokenizer.encode(t) for t in chunk]
      if self._kind.continues_prompts:
        # A prompt needs at least one token and must leave room for the continuation.
        ids = [(t or [EOS_ID])[-(length - 1):] for t in ids]
      else:
        ids = [with_eos(t, model_cfg.max_len).tolist() for t in ids]
      array = np.zeros((rows, max(len(t) for t in ids)), np.int32)
      array[:, 0] = EOS_ID  # filler rows (beyond the real texts) decode a harmless 1-token prompt
      for row, t in enumerate(ids):
        array[row, :len(t)] = t
      out = generate((self.state["params"], self.state["frozen"], self.rngs),
                     jnp.asarray(array), jax.random.fold_in(jax.random.key(seed), i // rows))
      starts = [len(t) for t in ids] + [1] * (rows - len(ids))
      decoded = token_lists(out.tokens, start=starts if self._kind.continues_prompts else 0)
      outputs += [self.tokenizer.decode(r) for r in decoded[:len(chunk)]]
    return outputs

  def score(self, texts: Sequence[str], targets: Sequence[str] | None = None) -> list[dict]:
    """How likely the model finds each text: {'log_prob', 'tokens', 'perplexity'} per text.

    A decoder LM scores each text's tokens after the first, plus the end of sequence (what its
    loss trains); an encoder-decoder scores each target given its text (`targets` required).
    log_prob is the natural-log sum over those tokens and perplexity exp(-log_prob / tokens).
    Each text is scored on its own row, so the result does not depend on the rest of the batch.
    """
    kind = self._kind
    if not kind.decodes:
      raise ValueError("score() scores text under a language model or encoder-decoder; this run "
                       "is an encoder classifier")
    if not kind.continues_prompts and (targets is None or len(targets) != len(texts)):
      raise ValueError("an encoder-decoder scores targets given texts: pass targets=[...] with "
                       "one target per text")
    if kind.continues_prompts and targets is not None:
      raise ValueError("a decoder LM scores the texts themselves: pass no targets")
    examples = [self._score_example(i, t, None if targets is None else targets[i])
                for i, t in enumerate(texts)]
    rows, results = self._rows(len(examples)), []
    for start in range(0, len(examples), rows):
      batch = _pad_rows(examples[start:start + rows], rows)
      sharded = {k: jax.make_array_from_process_local_data(self._sharding, v)
                 for k, v in batch.items()}
      log_probs, counts = self._score_step(
          (self.state["params"], self.state["frozen"], self.rngs), sharded)
      for lp, n in list(zip(np.asarray(log_probs), np.asarray(counts)))[:len(examples) - start]:
        results.append({"log_prob": float(lp), "tokens": int(n),
                        "perplexity": math.exp(-float(lp) / max(int(n), 1))})
    return results

  @functools.cached_property
  def _score_step(self):
    return _score_step(self._kind, self._merge)

  def _score_example(self, index: int, text: str, target: str | None) -> dict:
    cfg = self.model_config
    if target is None:
      example = lm_pairs(self.tokenizer.encode(text))
      sides = {"": len(example["inputs"])}
    else:
      inputs = np.asarray(self.tokenizer.encode(text) + [EOS_ID], np.int32)
      out = np.asarray(self.tokenizer.encode(target) + [EOS_ID], np.int32)
      example = {"inputs": inputs, "targets": out,
                 "targets_in": np.concatenate([[0], out[:-1]]).astype(np.int32),
                 "weights": np.ones(len(out), np.float32)}
      sides = {"inputs_": len(inputs), "targets_": len(out)}
    for side, n in sides.items():
      if n > cfg.max_len:
        raise ValueError(f"text {index} is {n} tokens{' (' + side.rstrip('_') + ')' if side else ''}"
                         f"; this model scores at most model.max_len={cfg.max_len}")
    return example


def padded(sequences: Sequence[Sequence[int]], rows: int | None = None):
  """(tokens, segment_ids, positions), each (rows, longest), of one unpacked sequence per row:
  padding (and filler rows past the sequences) has segment 0, as the models' masks expect."""
  rows = len(sequences) if rows is None else rows
  width = max(len(t) for t in sequences)
  tokens = np.zeros((rows, width), np.int32)
  segments = np.zeros((rows, width), np.int32)
  positions = np.zeros((rows, width), np.int32)
  for r, t in enumerate(sequences):
    tokens[r, :len(t)], segments[r, :len(t)], positions[r, :len(t)] = t, 1, np.arange(len(t))
  return tokens, segments, positions


def _pad_rows(examples: list[dict], rows: int) -> dict[str, np.ndarray]:
  """(rows, width) arrays of the examples plus the segment ids and positions the models take;
  padding (and filler rows) has segment 0 and weight 0."""
  def side(key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return padded([e[key] for e in examples], rows)

  out = {}
  if "targets_in" in examples[0]:
    out["inputs"], out["inputs_segment_ids"], out["inputs_positions"] = side("inputs")
    out["targets_in"], out["targets_segment_ids"], out["targets_positions"] = side("targets_in")
  else:
    out["inputs"], out["segment_ids"], out["positions"] = side("inputs")
  width = out["targets_in" if "targets_in" in out else "inputs"].shape[1]
  out["targets"] = np.zeros((rows, width), np.int32)
  out["weights"] = np.zeros((rows, width), np.float32)
  for r, e in enumerate(examples):
    out["targets"][r, :len(e["targets"])] = e["targets"]
    out["weights"][r, :len(e["weights"])] = e["weights"]
  return out


def _score_step(kind, merge):
  """Jitted (params, frozen, rngs), batch -> per-row (log-prob sum, weighted token count)."""

  def step(parts, batch):
    logits = kind.outputs(merge(parts), batch).astype(jnp.float32)
    log_probs = jnp.take_along_axis(jax.nn.log_softmax(logits), batch["targets"][..., None],
                                    axis=-1)[..., 0]
    scored = batch["weights"] > 0
    # Selected, not multiplied: padding positions may hold anything, NaN included.
    return (jnp.where(scored, log_probs * batch["weights"], 0.0).sum(axis=-1),
            jnp.where(scored, batch["weights"], 0.0).sum(axis=-1))

  return jax.jit(step)


def load(path: str, checkpoint: str | int = "latest", *, config=None,
         devices=None) -> TrainedModel:
  """The run in workdir `path` at `checkpoint` ('latest' or a step), or the directory `synth
  export` wrote, restored onto `devices` (default: every device present). `config` replaces the
  run's config.json (e.g. other eval settings); a missing or unreadable checkpoint is a one-line
  CheckpointError."""
  if is_export(path):
    if checkpoint != "latest" or config is not None:
      raise ValueError(f"{path} is an export (one checkpoint, its own config): load it with "
                       f"neither checkpoint= nor config=")
    return load_export(path, devices)
  if isinstance(checkpoint, str) and checkpoint != "latest" and not checkpoint.isdigit():
    raise ValueError(f"checkpoint must be 'latest' or a step number, got '{checkpoint}'")
  config = load_run_config(path) if config is None else config
  step = None if checkpoint == "latest" else int(checkpoint)
  if step is not None:
    available = ckpt.Checkpoints(path, read_only=True)
    try:
      steps = available.all_steps()
    finally:
      available.close()
    if step not in steps:
      raise ckpt.CheckpointError(f"no checkpoint step {step} in {path}/checkpoints (there are: "
                                 f"{', '.join(map(str, steps)) or 'none'})")
  mesh = eval_mesh(config, devices)
  layout, state, rngs = load_checkpoint(config, path, mesh, step)
  return TrainedModel(config=config, workdir=path, step=int(state["step"]),
                      tokenizer=run_tokenizer(config, path), mesh=mesh, layout=layout,
                      state=state, rngs=rngs)


def load_export(path: str, devices=None):
  """A TrainedModel from an export directory: the arrays placed straight into the model's
  shardings on `devices` (default: every device present)."""
  with open(os.path.join(path, EXPORT_FILE)) as f:
    record = json.load(f)
  if record.get("format") != FORMAT:
    raise ValueError(f"{path}: export format {record.get('format')!r} is not {FORMAT!r}")
  with open(os.path.join(path, "config.json")) as f:
    config = ml_collections.ConfigDict(json.load(f))
  if config.data.vocab_path and not os.path.isabs(config.data.vocab_path):
    config.data.vocab_path = os.path.join(path, config.data.vocab_path)
  mesh = eval_mesh(config, devices)
  model_cfg, layout = run_layout(config, mesh)
  state = {"step": record["step"]}
  for part in ("params", "frozen"):
    file = os.path.join(path, f"{part}.safetensors")
    arrays = safe_numpy.load_file(file) if os.path.exists(file) else {}
    state[part] = place_arrays(arrays, layout.abstract_state[part], f"{path}/{part}.safetensors")
  return TrainedModel(config=config, workdir=path, step=int(record["step"]),
                      tokenizer=run_tokenizer(config, path), mesh=mesh, layout=layout,
                      state=state, rngs=init_rngs(layout, model_cfg, config.seed))
