"""Scoring checkpoints: `synth eval` and the periodic evaluation during training share this code.

For every selected checkpoint and split: restore onto whatever devices are present, compute the
token-weighted loss and perplexity (and a decoder LM's token accuracy) over every eval example
exactly once, decode a few samples, append one JSON line to <workdir>/eval_results.jsonl, and
write the samples to TensorBoard and <workdir>/samples/. The trainer's final evaluation writes
the same row for the last checkpoint. A checkpoint that cannot be restored is reported and
skipped; the others are still evaluated.
"""
import math
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from etils import epath

from synth.config import mesh_rules
from synth.data.seq2seq import with_eos
from synth.data.tasks import get_data
from synth.eval import task_metrics
from synth.kinds import model_kind
from synth.eval.decoding import DecodeOptions, make_generate_fn, token_lists
from synth.models import ModelConfig
from synth.parallel import batch_sharding, batch_shards, global_batch, make_mesh
from synth.run_files import append_result, config_hash, read_jsonl, result_row, write_samples
from synth.summary_writer import SummaryWriter
from synth.token_ids import EOS_ID
from synth.train import checkpoints as ckpt
from synth.train.reporting import Progress
from synth.train.restore import load_checkpoint
from synth.train.steps import make_eval_step

CHECKPOINT_CHOICES = "latest|all|best|<step>"


def loss_metrics(eval_step, state, rngs, batches, sharding, max_batches: int = 0) -> dict:
  """Token-weighted loss and perplexity over `batches` (every example once, padding weight 0),
  and for a decoder LM `accuracy`: the percentage (0-100, as classifiers report theirs) of the
  weighted target tokens whose argmax prediction is the target. On a task that weights only
  its answers (mqar) that is the fraction of answers recalled."""
  loss_sum = weight_sum = 0.0
  correct_sum = None  # stays None for the kinds whose eval step counts no tokens
  for i, batch in enumerate(batches):
    if max_batches and i >= max_batches:
      break
    out = eval_step(state["params"], state["frozen"], rngs, global_batch(batch, sharding))
    loss_sum += float(out["loss_sum"])
    weight_sum += float(out["weight_sum"])
    if "correct_sum" in out:
      correct_sum = (correct_sum or 0.0) + float(out["correct_sum"])
  loss = loss_sum / max(weight_sum, 1.0)
  metrics = {"loss": loss, "perplexity": math.exp(min(loss, 100.0)), "tokens": weight_sum}
  if correct_sum is not None:
    metrics["accuracy"] = 100.0 * correct_sum / max(weight_sum, 1.0)
  return metrics


def rows_per_batch(config, sharding) -> int:
  """Rows per decoding or scoring batch: data.eval_batch_size, at least and a multiple of the
  ways `sharding` splits the batch (every device gets whole rows)."""
  width = batch_shards(sharding)
  return max(width, (int(config.data.eval_batch_size) // width) * width)


def decode_options(config) -> DecodeOptions:
  e = config.eval
  # .get: the config.json of a run from before the field existed has none.
  return DecodeOptions(method=e.method, max_length=e.max_decode_len or None,
                       beam_size=e.beam_size, alpha=e.alpha, temperature=e.temperature,
                       top_k=e.top_k, top_p=e.top_p,
                       no_repeat_ngram_size=int(e.get("no_repeat_ngram_size", 0)))


def select_steps(workdir: str, steps: list[int], which: str, best_metric: str = "loss",
                 best_mode: str = "min") -> list[int]:
  """Checkpoint steps for `which` = latest | all | best | <step>.

  'best' ranks the steps that have a checkpoint by their periodic eval metric in metrics.jsonl.
  """
  if not steps:
    raise ckpt.CheckpointError(f"no checkpoint in {workdir}/checkpoints")
  if which == "latest":
    return [max(steps)]
  if which == "all":
    return sorted(steps)
  if which == "best":
    scores = {}
    for row in read_jsonl(epath.Path(workdir) / "metrics.jsonl"):
      if f"eval/{best_metric}" in row and row["step"] in steps:
        scores[row["step"]] = row[f"eval/{best_metric}"]
    if not scores:
      raise ckpt.CheckpointError(f"no checkpoint in {workdir} has an eval/{best_metric} value "
                                 f"in metrics.jsonl to rank by")
    pick = min if best_mode == "min" else max
    return [pick(scores, key=scores.get)]
  if which.isdigit():
    if int(which) not in steps:
      raise ckpt.CheckpointError(f"no checkpoint for step {which} in {workdir}/checkpoints "
                                 f"(have {sorted(steps)})")
    return [int(which)]
  raise ValueError(f"--checkpoint must be {CHECKPOINT_CHOICES}, got '{which}'")


class Evaluator:
  """Evaluates training states of one run config on one mesh (restored or live)."""

  def __init__(self, config, workdir: str, mesh, layout, data):
    self.config, self.workdir, self.layout, self.data = config, workdir, layout, data
    self.model_cfg = ModelConfig.from_config(config.model)
    self.kind = model_kind(self.model_cfg.kind)
    self.sharding = batch_sharding(mesh, mesh_rules(config))
    self.eval_step = make_eval_step(layout)
    self._generate = self._predict = None

  def losses(self, state, rngs, split: str = "validation", max_batches: int = 0) -> dict:
    return loss_metrics(self.eval_step, state, rngs, self.data.eval_batches(split),
                        self.sharding, max_batches)

  def lm_samples(self, state, rngs, split: str) -> list[dict]:
    """Continuations of the first eval.prompt_len tokens of the first eval examples."""
    e = self.config.eval
    examples = [t for t in self.data.tokens(split) if len(t) > e.prompt_len][:e.num_samples]
    if not examples:
      return []
    prompts = [list(t[:e.prompt_len]) for t in examples]
    n, array = next(self._padded_batches(prompts, e.prompt_len))
    out = self._generator()((state["params"], state["frozen"], rngs), jnp.asarray(array),
                            jax.random.key(self.config.seed))
    predictions = token_lists(_host(out.tokens), start=e.prompt_len)[:n]
    tok = self.data.tokenizer
    # The reference is cut to the continuation's length budget, to read side by side.
    budget = (e.max_decode_len or self.model_cfg.max_len) - e.prompt_len
    return [{"source": tok.decode(p),
             "reference": tok.decode(t[e.prompt_len:e.prompt_len + budget]),
             "prediction": tok.decode(c)} for p, t, c in zip(prompts, examples, predictions)]

  def _generator(self):
    if self._generate is None:
      parts = self.layout.parts
      self._generate = make_generate_fn(self.model_cfg, decode_options(self.config),
                                        lambda s: parts.merge(*s, train=False),
                                        batch_sharding=self.sharding)
    return self._generate

  def _padded_batches(self, rows: list, width: int):
    """Rows of token ids -> (B, width) int32 batches, B a multiple of the data-parallel size."""
    size = rows_per_batch(self.config, self.sharding)
    for start in range(0, len(rows), size):
      chunk = rows[start:start + size]
      array = np.zeros((size, width), np.int32)
      array[:, 0] = EOS_ID  # filler rows decode a harmless one-token input
      for i, ids in enumerate(chunk):
        array[i, :len(ids)] = ids[:width]
      yield len(chunk), array

  def seq2seq_outputs(self, state, rngs, split: str) -> tuple[list[str], list[dict]]:
    """Decoded output text for the eval examples' inputs, in order, and those examples."""
    cap = self.config.eval.max_decode_examples
    examples = self.data.examples(split)
    tokens = self.data.tokens(split)
    if cap:
      examples, tokens = examples[:cap], tokens[:cap]
    generate = self._generator()
    input_len = self.kind.input_length(self.config)
    outputs = []
    progress = Progress(f"decoding {split} ({self.config.eval.method})", len(tokens))
    # The encoder reads each input as training did: cut to fit, ending with eos.
    inputs = [with_eos(t["inputs"], input_len).tolist() for t in tokens]
    for i, (n, array) in enumerate(self._padded_batches(inputs, input_len)):
      out = generate((state["params"], state["frozen"], rngs), jnp.asarray(array),
                     jax.random.fold_in(jax.random.key(self.config.seed), i))
      rows = token_lists(_host(out.tokens))[:n]
      outputs += [self.data.tokenizer.decode(r) for r in rows]
      progress.update(len(outputs))
    return outputs, examples

  def classifier_outputs(self, state, rngs, split: str) -> tuple[list, list]:
    """(predicted label ids or floats, true labels) of every real eval row, in order."""
    if self._predict is None:
      parts, kind = self.layout.parts, self.kind

      def predict(params, frozen, rngs, batch):
        return kind.outputs(parts.merge(params, frozen, rngs, train=False), batch)
      self._predict = jax.jit(predict)
    predictions, labels = [], []
    for batch in self.data.eval_batches(split):
      scores = _host(self._predict(state["params"], state["frozen"], rngs,
                                   global_batch(batch, self.sharding)))
      real = np.asarray(batch["weights"]) > 0
      predicted = scores[:, 0] if scores.shape[-1] == 1 else scores.argmax(-1)
      predictions += predicted[real].tolist()
      labels += np.asarray(batch["labels"])[real].tolist()
    return predictions, labels

  def evaluate(self, state, rngs, split: str = "validation") -> tuple[dict, list[dict]]:
    """(metrics, samples) of one state on one split: every example counted once."""
    metrics = self.losses(state, rngs, split)
    names = task_metrics.metric_names(self.config, self.data.kind)
    scores, samples = self.kind.evaluate(self, state, rngs, split, names)
    return {**metrics, **scores}, samples


def _host(x) -> np.ndarray:
  """A (possibly multi-process) global array as one numpy array on every host."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return np.asarray(jax.device_get(x))


def eval_mesh(config, devices=None):
  """The run's mesh if it fits the devices present, else pure data parallelism over them (a
  checkpoint restores onto any mesh)."""
  try:
    return make_mesh(config.mesh, devices)
  except ValueError:
    return make_mesh(ml_collections.ConfigDict({"data": -1, "fsdp": 1, "tensor": 1}), devices)


def evaluate_checkpoints(config, workdir: str, *, which: str = "latest",
                         split: str = "validation", devices=None) -> tuple[list[dict], list[str]]:
  """Evaluates the selected checkpoints of a run; returns (result rows, error lines).

  Restores onto `devices` (default: every device present) with a mesh from the run's config if
  it fits them, else a pure data-parallel mesh.
  """
  mesh = eval_mesh(config, devices)
  checkpoints = ckpt.Checkpoints(workdir, read_only=True)
  try:
    all_steps = checkpoints.all_steps()
  finally:
    checkpoints.close()
  steps = select_steps(workdir, all_steps, which, config.train.best_metric,
                       config.train.best_mode)
  data = get_data(config, workdir)
  data.examples(split)  # an unknown split fails here, before anything is written
  writer = SummaryWriter(os.path.join(workdir, "eval"))
  rows, errors, evaluator = [], [], None
  fingerprint = config_hash(config)
  try:
    for step in steps:
      try:
        layout, state, rngs = load_checkpoint(config, workdir, mesh, step)
      except ckpt.CheckpointError as e:
        errors.append(str(e).splitlines()[0])
        continue
      evaluator = evaluator or Evaluator(config, workdir, mesh, layout, data)
      metrics, samples = evaluator.evaluate(state, rngs, split)
      row = result_row(step, split, metrics, fingerprint)
      append_result(workdir, row)
      writer.write_scalars(step, {f"{split}/{k}": v for k, v in metrics.items()})
      write_samples(workdir, step, split, samples, writer)
      rows.append(row)
  finally:
    writer.flush()
    writer.close()
  return rows, errors
