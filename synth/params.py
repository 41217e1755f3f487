"""Parameters that carry logical axis names, in Flax's own partitioning metadata.

Every parameter in synth is created through `param`, which wraps its initializer with
nnx.with_partitioning, so the Variable holds its logical axis names (e.g. ('embed', 'heads',
'kv')) as Flax's `out_sharding` metadata, as any Flax model's do. synth.parallel maps those
names to mesh axes with the config's rules.

Two choices differ from Flax's defaults, each for a constraint of ours:
- eager_sharding=False. By default Flax shards such a variable as it is created, which needs a
  mesh, and our models must build with no mesh at all (tests, nnx.eval_shape, a laptop); the
  trainer places every variable afterwards, from its abstract state.
- The names are mapped by synth.parallel.sharding.logical_to_mesh_spec rather than by
  nnx.get_partition_spec under nnx.logical_axis_rules. Both read this metadata and give the same
  spec where every rule fits (tests/test_parallel.py checks it), but Flax's passes a name with
  no rule through as a mesh axis name, and keeps a mesh axis that does not divide its dimension
  or that an earlier dimension already uses; ours makes the first an error and drops the other
  two, so any rule set is valid for any model.
"""
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

# The Variable metadata that holds the logical axis names: Flax's (what nnx.with_partitioning
# sets, and what nnx.vmap / nnx.scan's transform_metadata extend with a stacked axis).
LOGICAL_AXES = "out_sharding"


def param(
    rngs: nnx.Rngs,
    init: Callable,
    shape: Sequence[int],
    axes: Sequence[str | None],
    dtype=jnp.float32,
    variable_type: type[nnx.Variable] = nnx.Param,
) -> nnx.Variable:
  """Creates a Variable of `variable_type` initialised by `init`, annotated with logical `axes`."""
  if len(axes) != len(shape):
    raise ValueError(f"logical axes {tuple(axes)} do not match parameter shape {tuple(shape)}")
  annotated = nnx.with_partitioning(init, tuple(axes), eager_sharding=False)
  return variable_type(annotated(rngs.params(), tuple(shape), dtype))


def logical_axes(variable: nnx.Variable) -> tuple[str | None, ...]:
  """The logical axis names of `variable`; unannotated variables are replicated (all None)."""
  axes = variable.get_metadata().get(LOGICAL_AXES)
  if axes is None:
    # get_value() also works on abstract (nnx.eval_shape) variables, where [...] does not.
    return (None,) * len(variable.get_value().shape)
  return tuple(axes)


def count_params(module: nnx.Module, variable_type: type[nnx.Variable] = nnx.Param) -> int:
  """Number of scalars in the `variable_type` variables of `module` (nnx.Param = trainable)."""
  state = nnx.state(module, variable_type)
  return sum(int(x.size) for x in jax.tree.leaves(state))


class FrozenParam(nnx.Variable):
  """Model state that is part of the function but never trained (e.g. Fixed Random's R).

  Optimizers in synth update nnx.Param only, so a FrozenParam keeps its initial value; it is still
  saved in checkpoints and excluded from trainable parameter counts.
  """
