"""The training state, its shardings and its initialisation inside jit.

The state is a plain dict of arrays so Orbax saves it as is and optax sees plain arrays:
  step       int32 scalar, optimizer updates done
  params     trainable parameters (nnx.Param), as a nested dict
  frozen     non-trained model state (synth.params.FrozenParam, e.g. Fixed Random's R)
  opt_state  the optax state
The model's structure (nnx GraphDef) and its RNG stream state are not checkpointed: they are
rebuilt from the config, and dropout keys are derived from (seed, step), so a resumed run draws
exactly the dropout masks an uninterrupted one would.
"""
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from synth.models import ModelConfig, make_model
from synth.params import FrozenParam
from synth.parallel import shardings_like, state_shardings


@dataclasses.dataclass(frozen=True)
class ModelParts:
  """The static halves of the model that pair with the state's arrays."""
  train_graphdef: Any  # dropout on
  eval_graphdef: Any   # dropout off
  kind: str

  def merge(self, params, frozen, rngs, *, train: bool):
    graphdef = self.train_graphdef if train else self.eval_graphdef
    return nnx.merge(graphdef, params, frozen, rngs)


def build_model(model_cfg: ModelConfig, seed: int) -> nnx.Module:
  return make_model(model_cfg, rngs=nnx.Rngs(params=seed, dropout=seed + 1))


def _split(model):
  """(graphdef, params, frozen, rng streams): the three kinds of state a model holds."""
  return nnx.split(model, nnx.Param, FrozenParam, ...)


def _pure(state):
  return nnx.to_pure_dict(state)


@dataclasses.dataclass(frozen=True)
class StateLayout:
  """Everything needed to create, shard, restore and run a training state."""
  parts: ModelParts
  abstract_state: Any   # dict like the state, of jax.ShapeDtypeStruct with shardings
  shardings: Any        # dict like the state, of NamedSharding
  rng_shardings: Any


def state_layout(model_cfg: ModelConfig, tx: optax.GradientTransformation, mesh: Mesh,
                 rules, seed: int) -> StateLayout:
  """Shapes and shardings of the state, from an abstract model (nothing is materialised)."""
  abstract = nnx.eval_shape(lambda: build_model(model_cfg, seed))
  train_graphdef, params, frozen, rngs = _split(abstract)
  abstract.eval()
  eval_graphdef = _split(abstract)[0]
  param_shardings = _pure(state_shardings(params, mesh, rules))
  frozen_shardings = _pure(state_shardings(frozen, mesh, rules))
  params, frozen = _pure(params), _pure(frozen)
  abstract_opt = jax.eval_shape(tx.init, params)
  replicated = NamedSharding(mesh, PartitionSpec())
  shardings = {
      "step": replicated,
      "params": param_shardings,
      "frozen": frozen_shardings,
      "opt_state": shardings_like(abstract_opt, params, param_shardings, mesh),
  }
  shapes = {"step": jax.ShapeDtypeStruct((), jnp.int32), "params": params, "frozen": frozen,
            "opt_state": abstract_opt}
  abstract_state = jax.tree.map(
      lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), shapes, shardings)
  rng_shardings = jax.tree.map(lambda _: replicated, _pure(rngs))
  return StateLayout(ModelParts(train_graphdef, eval_graphdef, model_cfg.kind), abstract_state,
                     shardings, rng_shardings)


def init_state(layout: StateLayout, model_cfg: ModelConfig, tx, seed: int):
  """Creates (state, rng streams) directly in their shardings: no full copy on one device."""

  def init():
    _, params, frozen, rngs = _split(build_model(model_cfg, seed))
    params = _pure(params)
    state = {"step": jnp.zeros((), jnp.int32), "params": params, "frozen": _pure(frozen),
             "opt_state": tx.init(params)}
    return state, _pure(rngs)

  return jax.jit(init, out_shardings=(layout.shardings, layout.rng_shardings))()


def init_rngs(layout: StateLayout, model_cfg: ModelConfig, seed: int):
  """Only the RNG stream state (for a restored run, whose arrays come from the checkpoint)."""

  def init():
    return _pure(_split(build_model(model_cfg, seed))[3])

  return jax.jit(init, out_shardings=layout.rng_shardings)()
