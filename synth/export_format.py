"""The directory `synth export` writes, as both its writer (synth/export.py) and its reader
(synth.load) see it: the file names, the format tag, and one name per tensor.

A tensor's name is its path in the parameter tree joined by '/' (decoder/layers/0/...), so a
reader without synth can find each weight by name in the safetensors files.
"""
import os

import jax
import numpy as np

from synth.run_files import is_remote

# What export.json is called; its presence marks a directory as an export.
EXPORT_FILE = "export.json"
# The format tag in export.json: a reader refuses directories of any other format.
FORMAT = "synth-export-1"


def is_export(path: str) -> bool:
  """Whether `path` is a directory `synth export` wrote (rather than a training workdir)."""
  return not is_remote(path) and os.path.isfile(os.path.join(path, EXPORT_FILE))


def tensor_name(path) -> str:
  """A jax tree path -> 'decoder/layers/0/...'."""
  return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def flat_arrays(tree) -> dict[str, np.ndarray]:
  """{'decoder/layers/0/...': array} of a parameter tree, gathered to this host."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {tensor_name(path): np.asarray(jax.device_get(leaf)) for path, leaf in leaves}


def place_arrays(arrays: dict[str, np.ndarray], abstract, where: str):
  """The tree of `abstract` with each leaf's array from `arrays`, in the leaf's sharding; a
  missing, extra or mis-shaped tensor is one error naming them all."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(abstract)
  problems, placed = [], []
  for path, leaf in leaves:
    name = tensor_name(path)
    value = arrays.get(name)
    if value is None:
      problems.append(f"{name} missing")
    elif value.shape != leaf.shape or value.dtype != leaf.dtype:
      problems.append(f"{name}: file {value.shape} {value.dtype} vs model {leaf.shape} "
                      f"{leaf.dtype}")
    else:
      placed.append(jax.device_put(value, leaf.sharding))
  extra = sorted(set(arrays) - {tensor_name(p) for p, _ in leaves})
  problems += [f"{name} is not in the model" for name in extra]
  if problems:
    raise ValueError(f"{where} does not fit the model of its config.json: "
                     f"{'; '.join(problems[:5])}{' ...' if len(problems) > 5 else ''}")
  return jax.tree_util.tree_unflatten(treedef, placed)
