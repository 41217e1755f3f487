"""Shardings from logical axis names: parameters, optimizer state and data batches.

Modules name each parameter dimension logically ('embed', 'heads', 'vocab', ...) and the config's
`mesh.rules` say which mesh axes each name is split over. Keeping that mapping out of the model
means one model definition runs data-parallel, FSDP or tensor-parallel by changing config only.

Two relaxations keep any rule set valid for any model: a mesh axis already used by an earlier
dimension of the same tensor is dropped (a mesh axis may shard only one dimension), and a mesh
axis that does not divide its dimension is dropped (an odd vocabulary stays replicated on that
dimension instead of failing to compile).
"""
import math
from typing import Any, Sequence

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from synth.params import LOGICAL_AXES

Rules = Sequence[tuple[str, Any]]


def _rule_table(rules: Rules, mesh: Mesh) -> dict[str, tuple[str, ...]]:
  """Logical name -> tuple of mesh axes; the first rule for a name wins (as in t5x)."""
  table = {}
  for logical, target in rules:
    if target is None:
      axes = ()
    elif isinstance(target, str):
      axes = (target,)
    else:
      axes = tuple(target)
    unknown = [a for a in axes if a not in mesh.axis_names]
    if unknown:
      raise ValueError(f"rule {logical!r} -> {target!r} names mesh axes {unknown} not in the mesh "
                       f"{tuple(mesh.axis_names)}")
    table.setdefault(logical, axes)
  return table


def logical_to_mesh_spec(
    logical_axes: Sequence[str | None],
    rules: Rules,
    mesh: Mesh,
    shape: Sequence[int] | None = None,
) -> PartitionSpec:
  """The PartitionSpec that `rules` give a tensor whose dimensions are named `logical_axes`.

  A None name is replicated. With `shape`, a mesh axis that does not divide its dimension (after
  the axes kept before it) is skipped, so that dimension is sharded less or not at all.
  """
  if shape is not None and len(shape) != len(logical_axes):
    raise ValueError(f"logical axes {tuple(logical_axes)} do not match shape {tuple(shape)}")
  table = _rule_table(rules, mesh)
  unknown = sorted({name for name in logical_axes if name is not None and name not in table})
  if unknown:
    raise ValueError(f"logical axis names {unknown} have no rule in mesh.rules "
                     f"(known: {sorted(table)})")
  used = set()
  spec = []
  for dim, name in enumerate(logical_axes):
    kept = []
    for axis in table[name] if name is not None else ():
      if axis in used:
        continue
      size = math.prod(mesh.shape[a] for a in kept) * mesh.shape[axis]
      if shape is not None and shape[dim] % size:
        continue
      kept.append(axis)
      used.add(axis)
    spec.append(None if not kept else kept[0] if len(kept) == 1 else tuple(kept))
  return PartitionSpec(*spec)


def _shape(x) -> tuple[int, ...]:
  """Shape of an array, a ShapeDtypeStruct (abstract state) or a Python scalar."""
  shape = getattr(x, "shape", None)
  return tuple(shape) if shape is not None else np.shape(x)


def _variable_sharding(variable: nnx.Variable, mesh: Mesh, rules: Rules) -> NamedSharding:
  """Sharding from the variable's logical axes; replicated when it has none or they do not fit.

  Logical axes that do not match the value's rank occur in optimizer state copied from a
  parameter with a different shape (e.g. Adafactor's factored row/column moments); those small
  tensors are replicated.
  """
  axes = variable.get_metadata().get(LOGICAL_AXES)
  shape = _shape(variable.get_value())
  if axes is None or len(axes) != len(shape):
    return NamedSharding(mesh, PartitionSpec())
  return NamedSharding(mesh, logical_to_mesh_spec(axes, rules, mesh, shape))


def state_shardings(state, mesh: Mesh, rules: Rules):
  """A tree like `state` whose Variables hold a NamedSharding instead of their value.

  Works on an nnx.State (concrete or from nnx.eval_shape), on an nnx.Optimizer's state and on an
  optax state initialised from an nnx.State of Variables: nnx and optax copy each parameter's
  metadata, logical axes included, into the moments that mirror it. Leaves that are not Variables
  (step counters, plain arrays) are replicated; use `shardings_like` for optimizer state built
  from plain arrays. The result can be passed as jax.jit in/out_shardings or to jax.device_put.
  """
  replicated = NamedSharding(mesh, PartitionSpec())

  def one(leaf):
    if isinstance(leaf, nnx.Variable):
      return leaf.replace(_variable_sharding(leaf, mesh, rules))
    return replicated

  return jax.tree.map(one, state, is_leaf=lambda x: isinstance(x, nnx.Variable))


def shardings_like(tree, params, param_shardings, mesh: Mesh):
  """Shardings for a tree (typically optax state) whose subtrees mirror `params`.

  Every subtree of `tree` with the structure of `params` (Adam's mu and nu, accumulated
  gradients, ...) takes the sharding of the corresponding parameter wherever its leaf has the
  parameter's shape; everything else (counters, Adafactor's factored moments) is replicated.
  `param_shardings` is `params`' tree of shardings, e.g. from `state_shardings`.
  """
  param_def = jax.tree.structure(params)
  param_shapes = [_shape(p) for p in jax.tree.leaves(params)]
  shardings = jax.tree.leaves(param_shardings)
  if len(shardings) != len(param_shapes):
    raise ValueError(f"param_shardings has {len(shardings)} leaves but params has "
                     f"{len(param_shapes)}")
  replicated = NamedSharding(mesh, PartitionSpec())

  def mirrors(node) -> bool:
    return jax.tree.structure(node) == param_def

  def one(node):
    if not mirrors(node):
      return replicated
    leaves = jax.tree.leaves(node)
    return jax.tree.unflatten(param_def, [
        sharding if _shape(leaf) == shape else replicated
        for leaf, shape, sharding in zip(leaves, param_shapes, shardings)])

  return jax.tree.map(one, tree, is_leaf=mirrors)


def batch_shards(sharding: NamedSharding) -> int:
  """How many ways `sharding` (a batch_sharding) splits the example dimension: a global batch
  must be a multiple of it."""
  axes = sharding.spec[0] if sharding.spec else None
  axes = (axes,) if isinstance(axes, str) else (axes or ())
  return math.prod(sharding.mesh.shape[a] for a in axes)


def batch_sharding(mesh: Mesh, rules: Rules) -> NamedSharding:
  """Sharding of a data batch: the leading (example) dimension over the 'batch' rule's axes.

  The spec names only the leading dimension, so the same sharding serves every array of a batch
  whatever its rank; the global batch size must be divisible by the product of those axes.
  """
  return NamedSharding(mesh, logical_to_mesh_spec(("batch",), rules, mesh))


def global_batch(local_batch: dict, sharding) -> dict:
  """This process's rows -> global jax.Arrays sharded over the batch axes of the mesh."""
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in local_batch.items()}
