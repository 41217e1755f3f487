"""`synth export`: a trained run as one directory that synth.load reads without its workdir.

    OUT/export.json          what this is: format, source workdir and step, synth version
    OUT/config.json          the run's resolved config (data.vocab_path relative to OUT)
    OUT/params.safetensors   the trainable parameters, one tensor per path (decoder/layers/0/...)
    OUT/frozen.safetensors   the frozen ones (Fixed Random's R), when the model has any
    OUT/vocab/spm_N.model    the SentencePiece model (tasks with their own vocabulary have none)

safetensors rather than an Orbax checkpoint: a flat, memory-mappable file that other frameworks
(and people without synth) read with one call, holding nothing but named arrays. The optimizer
state is not exported: the directory is for using the model, not for resuming its training.
"""
import datetime
import json
import os
import shutil
import tempfile

import jax
import numpy as np
from etils import epath
from safetensors import numpy as safe_numpy

from synth import __version__
from synth.data.registry import get_task
from synth.data.tasks import vocab_path
from synth.run_files import is_remote

EXPORT_FILE = "export.json"
FORMAT = "synth-export-1"


def is_export(path: str) -> bool:
  return not is_remote(path) and os.path.isfile(os.path.join(path, EXPORT_FILE))


def _name(path) -> str:
  return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def flat_arrays(tree) -> dict[str, np.ndarray]:
  """{'decoder/layers/0/...': array} of a parameter tree, gathered to this host."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {_name(path): np.asarray(jax.device_get(leaf)) for path, leaf in leaves}


def export_run(workdir: str, out: str, checkpoint: str | int = "latest") -> dict:
  """Writes the export of `workdir`'s checkpoint to `out` (a new or empty local directory);
  returns what export.json records. Nothing is overwritten: an `out` that holds anything is an
  error before any work, and the files appear in `out` only once all are written."""
  from synth.api import load
  if is_remote(out):
    raise ValueError(f"--out {out}: export writes a local directory; copy it to the bucket after")
  if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
    raise ValueError(f"export directory {out} exists and is not empty: choose a new one "
                     f"(nothing there is overwritten)")
  if jax.process_count() > 1:
    raise ValueError("synth export runs as one process: it gathers every parameter to this host")
  run = load(workdir, checkpoint)
  config = run.config.copy_and_resolve_references()
  parent = os.path.dirname(os.path.abspath(out))
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
  try:
    if get_task(config.data.source).tokenizer is None:  # else the task brings its vocabulary
      source = vocab_path(config, workdir)
      name = os.path.basename(source)
      os.makedirs(os.path.join(staging, "vocab"))
      with epath.Path(source).open("rb") as src, open(os.path.join(staging, "vocab", name),
                                                       "wb") as dst:
        shutil.copyfileobj(src, dst)
      config.data.vocab_path = os.path.join("vocab", name)
    safe_numpy.save_file(flat_arrays(run.state["params"]),
                         os.path.join(staging, "params.safetensors"))
    frozen = flat_arrays(run.state["frozen"])
    if frozen:
      safe_numpy.save_file(frozen, os.path.join(staging, "frozen.safetensors"))
    with open(os.path.join(staging, "config.json"), "w") as f:
      json.dump(json.loads(config.to_json_best_effort()), f, indent=2, sort_keys=True)
    record = {"format": FORMAT, "workdir": os.path.abspath(workdir), "step": run.step,
              "synth_version": __version__,
              "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(
                  timespec="seconds")}
    with open(os.path.join(staging, EXPORT_FILE), "w") as f:
      json.dump(record, f, indent=2)
    if os.path.isdir(out):
      os.rmdir(out)  # empty (checked above): the staged directory takes its place
    os.replace(staging, out)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return record


def load_export(path: str, devices=None):
  """A TrainedModel from an export directory: the arrays placed straight into the model's
  shardings on `devices` (default: every device present)."""
  import ml_collections

  from synth.api import TrainedModel
  from synth.data.tasks import run_tokenizer
  from synth.eval.evaluate import eval_mesh
  from synth.models import ModelConfig
  from synth.train.optimizer import make_optimizer
  from synth.train.state import init_rngs, state_layout
  with open(os.path.join(path, EXPORT_FILE)) as f:
    record = json.load(f)
  if record.get("format") != FORMAT:
    raise ValueError(f"{path}: export format {record.get('format')!r} is not {FORMAT!r}")
  with open(os.path.join(path, "config.json")) as f:
    config = ml_collections.ConfigDict(json.load(f))
  if config.data.vocab_path and not os.path.isabs(config.data.vocab_path):
    config.data.vocab_path = os.path.join(path, config.data.vocab_path)
  model_cfg = ModelConfig.from_config(config.model)
  mesh = eval_mesh(config, devices)
  tx, _ = make_optimizer(config.optimizer, num_steps=int(config.train.num_steps))
  layout = state_layout(model_cfg, tx, mesh, tuple(tuple(r) for r in config.mesh.rules),
                        config.seed)
  state = {"step": record["step"]}
  for part in ("params", "frozen"):
    file = os.path.join(path, f"{part}.safetensors")
    arrays = safe_numpy.load_file(file) if os.path.exists(file) else {}
    state[part] = _place(arrays, layout.abstract_state[part], f"{path}/{part}.safetensors")
  return TrainedModel(config=config, workdir=path, step=int(record["step"]),
                      tokenizer=run_tokenizer(config, path), mesh=mesh, layout=layout,
                      state=state, rngs=init_rngs(layout, model_cfg, config.seed))


def _place(arrays: dict[str, np.ndarray], abstract, where: str):
  """The tree of `abstract` with each leaf's array from `arrays`, in the leaf's sharding; a
  missing, extra or mis-shaped tensor is one error naming them all."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(abstract)
  problems, placed = [], []
  for path, leaf in leaves:
    name = _name(path)
    value = arrays.get(name)
    if value is None:
      problems.append(f"{name} missing")
    elif value.shape != leaf.shape or value.dtype != leaf.dtype:
      problems.append(f"{name}: file {value.shape} {value.dtype} vs model {leaf.shape} "
                      f"{leaf.dtype}")
    else:
      placed.append(jax.device_put(value, leaf.sharding))
  extra = sorted(set(arrays) - {_name(p) for p, _ in leaves})
  problems += [f"{name} is not in the model" for name in extra]
  if problems:
    raise ValueError(f"{where} does not fit the model of its config.json: "
                     f"{'; '.join(problems[:5])}{' ...' if len(problems) > 5 else ''}")
  return jax.tree_util.tree_unflatten(treedef, placed)
