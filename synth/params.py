"""Parameters that carry logical axis names.

Every parameter in synth is created through `param`, which stores the tensor's logical axis names
(e.g. ('embed', 'heads', 'kv')) as Variable metadata under `logical_axes`. synth.parallel maps those
names to mesh axes with the config's rules. We use our own metadata key rather than Flax's
`out_sharding` (what nnx.with_partitioning sets) because by default Flax shards those variables
eagerly at creation, which needs a mesh to exist, and models must also be buildable with no mesh
at all (tests, eval_shape, a laptop). Flax 0.12 can switch that off per variable
(`eager_sharding=False` metadata) or globally (nnx.use_eager_sharding(False)); with it off, a
model builds and eval_shapes with no mesh and nnx.logical_axis_rules + nnx.get_partition_spec
map the names (checked with flax 0.12.8), so moving to Flax's own key looks possible. Not done
yet; to check first: that its rules map one name to several mesh axes (our batch -> (data, fsdp))
and that an unknown name is an error, as here.
"""
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

LOGICAL_AXES = "logical_axes"


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
  value = init(rngs.params(), tuple(shape), dtype)
  return variable_type(value, **{LOGICAL_AXES: tuple(axes)})


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
