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
from etils import epath
from safetensors import numpy as safe_numpy

from synth import __version__
from synth.api import load
from synth.data.registry import get_task
from synth.data.tasks import vocab_path
from synth.export_format import EXPORT_FILE, FORMAT, flat_arrays
from synth.run_files import is_remote

def export_run(workdir: str, out: str, checkpoint: str | int = "latest") -> dict:
  """Writes the export of `workdir`'s checkpoint to `out` (a new or empty local directory);
  returns what export.json records. Nothing is overwritten: an `out` that holds anything is an
  error before any work, and the files appear in `out` only once all are written."""
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
