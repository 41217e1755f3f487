"""Mesh construction and logical-axis sharding on 8 simulated CPU devices."""
import jax
import jax.numpy as jnp
import ml_collections
import optax
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P

from synth.params import FrozenParam, param
from synth.parallel import (batch_sharding, logical_to_mesh_spec, make_mesh, mesh_shape,
                            shardings_like, state_shardings)

RULES = (
    ("batch", ("data", "fsdp")),
    ("embed", "fsdp"),
    ("vocab", "tensor"),
    ("heads", "tensor"),
    ("mlp", "tensor"),
    ("kv", None),
)


def mesh_config(data, fsdp=1, tensor=1):
  return ml_collections.ConfigDict({"data": data, "fsdp": fsdp, "tensor": tensor})


class Tiny(nnx.Module):
  """Every kind of parameter sharding has to handle."""

  def __init__(self, rngs):
    init = nnx.initializers.normal(1.0)
    self.embedding = param(rngs, init, (7, 8), ("vocab", "embed"))  # odd vocab
    self.kernel = param(rngs, init, (8, 4), ("embed", "mlp"))
    self.heads = param(rngs, init, (8, 2, 4), ("embed", "heads", "kv"))
    self.gates = param(rngs, init, (4, 2), ("mlp", "heads"))  # both map to 'tensor'
    self.bias = param(rngs, nnx.initializers.zeros, (4,), ("mlp",))
    self.frozen = param(rngs, init, (8, 4), ("embed", "mlp"), variable_type=FrozenParam)
    self.plain = nnx.Param(jnp.ones((6,)))  # unannotated

  def __call__(self, x):
    return x @ self.kernel[...] + self.bias[...]


def specs(shardings):
  """{name: PartitionSpec} of a one-level State of Variables holding shardings."""
  return {k: v.get_value().spec for k, v in shardings.items()}


def test_mesh_fills_the_minus_one_axis():
  assert make_mesh(mesh_config(-1)).shape == {"data": 8, "fsdp": 1, "tensor": 1}
  mesh = make_mesh(mesh_config(2, -1, 2))
  assert tuple(mesh.axis_names) == ("data", "fsdp", "tensor")
  assert mesh.shape == {"data": 2, "fsdp": 2, "tensor": 2}
  assert all(t == jax.sharding.AxisType.Auto for t in mesh.axis_types)


def test_mesh_on_explicit_devices():
  devices = jax.devices()[4:]
  mesh = make_mesh(mesh_config(-1, 1, 2), devices)
  assert mesh.shape == {"data": 2, "fsdp": 1, "tensor": 2}
  assert set(mesh.devices.flat) == set(devices)
  assert make_mesh(mesh_config(-1), jax.devices()[:1]).size == 1


@pytest.mark.parametrize("sizes, message", [
    ((3, 1, 1), "needs 3 devices"),
    ((-1, 3, 1), "not divisible by 3"),
    ((-1, -1, 1), "at most one"),
    ((0, 1, 8), "positive or -1"),
])
def test_mesh_rejects_bad_shapes(sizes, message):
  with pytest.raises(ValueError, match=message):
    mesh_shape(mesh_config(*sizes), 8)


def test_rules_map_names_drop_reused_axes_and_non_divisors():
  mesh = make_mesh(mesh_config(2, 2, 2))
  assert logical_to_mesh_spec(("batch", None), RULES, mesh) == P(("data", "fsdp"), None)
  assert logical_to_mesh_spec(("embed", "heads", "kv"), RULES, mesh) == P("fsdp", "tensor", None)
  # 'mlp' and 'heads' both map to 'tensor': only the first dimension gets it.
  assert logical_to_mesh_spec(("mlp", "heads"), RULES, mesh) == P("tensor", None)
  # 7 is not divisible by tensor=2: replicate that dimension, keep the rest.
  assert logical_to_mesh_spec(("vocab", "embed"), RULES, mesh, (7, 8)) == P(None, "fsdp")
  # Batch 6 over data*fsdp=4: keep 'data' (2 divides 6), skip 'fsdp'.
  assert logical_to_mesh_spec(("batch",), RULES, mesh, (6,)) == P("data")


def test_unknown_names_are_errors():
  mesh = make_mesh(mesh_config(2, 2, 2))
  with pytest.raises(ValueError, match=r"\['nonsense', 'widgets'\] have no rule"):
    logical_to_mesh_spec(("widgets", "embed", "nonsense"), RULES, mesh)
  with pytest.raises(ValueError, match=r"mesh axes \['model'\] not in the mesh"):
    logical_to_mesh_spec(("embed",), RULES + (("embed", "model"),), mesh)


def test_parameters_carry_flax_partitioning_metadata_that_flax_maps_too():
  """param writes Flax's own metadata (nnx.with_partitioning, no eager sharding), so a model
  builds with no mesh and nnx.get_partition_spec under nnx.logical_axis_rules reads the same
  names. Where every rule fits, Flax's spec is ours; where a mesh axis does not divide the
  dimension or is used twice, ours drops it and Flax's keeps it (why we map names ourselves)."""
  model = Tiny(nnx.Rngs(0))  # no mesh anywhere
  assert model.kernel.get_metadata()["out_sharding"] == ("embed", "mlp")
  assert model.kernel.get_metadata()["eager_sharding"] is False
  mesh = make_mesh(mesh_config(2, 2, 2))
  state = nnx.state(model)
  with nnx.logical_axis_rules(RULES):
    flax_specs = {k: v.get_value() for k, v in nnx.get_partition_spec(state).items()}
  ours = specs(state_shardings(state, mesh, RULES))
  for name in ("kernel", "heads", "bias", "frozen", "plain"):
    assert flax_specs[name] == ours[name], name
  # Odd vocabulary 7 over tensor=2; 'mlp' and 'heads' both on 'tensor'.
  assert flax_specs["embedding"] == P("tensor", "fsdp") != ours["embedding"] == P(None, "fsdp")
  assert flax_specs["gates"] == P("tensor", "tensor") != ours["gates"] == P("tensor", None)


@pytest.mark.parametrize("sizes, expected", [
    ((4, 1, 2), {"embedding": P(None, "fsdp"), "kernel": P("fsdp", "tensor"),
                 "heads": P("fsdp", "tensor", None), "gates": P("tensor", None),
                 "bias": P("tensor"), "frozen": P("fsdp", "tensor"), "plain": P()}),
    ((2, 2, 2), {"embedding": P(None, "fsdp"), "kernel": P("fsdp", "tensor"),
                 "heads": P("fsdp", "tensor", None), "gates": P("tensor", None),
                 "bias": P("tensor"), "frozen": P("fsdp", "tensor"), "plain": P()}),
])
def test_state_shardings_of_a_module(sizes, expected):
  mesh = make_mesh(mesh_config(*sizes))
  abstract = nnx.state(nnx.eval_shape(lambda: Tiny(nnx.Rngs(0))))
  assert specs(state_shardings(abstract, mesh, RULES)) == expected


def test_jit_initialises_parameters_with_the_shardings():
  mesh = make_mesh(mesh_config(2, 2, 2))
  abstract = nnx.state(nnx.eval_shape(lambda: Tiny(nnx.Rngs(0))))
  shardings = state_shardings(abstract, mesh, RULES)
  state = jax.jit(lambda: nnx.state(Tiny(nnx.Rngs(0))), out_shardings=shardings)()
  for name, variable in state.items():
    array = variable.get_value()
    assert array.sharding.is_equivalent_to(shardings[name].get_value(), array.ndim), name
  assert state["kernel"].get_value().addressable_shards[0].data.shape == (4, 2)
  # Concrete state (what a trainer holds after init) maps to the same shardings.
  assert specs(state_shardings(state, mesh, RULES)) == specs(shardings)


def test_optimizer_state_of_variables_follows_the_params():
  mesh = make_mesh(mesh_config(2, 2, 2))
  opt = nnx.eval_shape(lambda: nnx.Optimizer(Tiny(nnx.Rngs(0)), optax.adam(1e-3), wrt=nnx.Param))
  shardings = state_shardings(nnx.state(opt), mesh, RULES)
  adam = shardings["opt_state"][0]
  assert adam["count"].get_value().spec == P()
  assert adam["mu"]["kernel"].get_value().spec == P("fsdp", "tensor")
  assert adam["nu"]["gates"].get_value().spec == P("tensor", None)
  assert "frozen" not in adam["mu"]


def test_optimizer_state_of_plain_arrays_via_shardings_like():
  mesh = make_mesh(mesh_config(2, 2, 2))
  variables = nnx.state(nnx.eval_shape(lambda: Tiny(nnx.Rngs(0))), nnx.Param)
  params = nnx.as_pure(variables)
  param_shardings = state_shardings(variables, mesh, RULES)
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3),
                   optax.adafactor(1e-3, min_dim_size_to_factor=4))
  shardings = shardings_like(jax.eval_shape(tx.init, params), params, param_shardings, mesh)
  adam, factored = shardings[1][0], shardings[2][0]
  assert adam.count.spec == P()
  assert adam.mu["heads"].spec == P("fsdp", "tensor", None)
  assert adam.nu["embedding"].spec == P(None, "fsdp")
  assert factored.v_row["kernel"].spec == P()  # (8,) moment of an (8, 4) kernel
  assert factored.v["bias"].spec == P("tensor")  # unfactored: the parameter's own shape
  init = lambda: tx.init(nnx.as_pure(nnx.state(Tiny(nnx.Rngs(0)), nnx.Param)))
  opt_state = jax.jit(init, out_shardings=shardings)()
  assert opt_state[1][0].mu["kernel"].sharding.spec == P("fsdp", "tensor")
  with pytest.raises(ValueError, match="leaves"):
    shardings_like(opt_state, params, {"kernel": param_shardings["kernel"]}, mesh)


def test_batch_sharding_splits_the_leading_dimension():
  mesh = make_mesh(mesh_config(4, 1, 2))
  sharding = batch_sharding(mesh, RULES)
  batch = jax.device_put(jnp.zeros((8, 5), jnp.int32), sharding)
  assert batch.addressable_shards[0].data.shape == (2, 5)
  assert jax.device_put(jnp.zeros((8,)), sharding).addressable_shards[0].data.shape == (2,)
