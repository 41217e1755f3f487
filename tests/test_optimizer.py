"""Schedules, weight-decay masking, clipping and gradient accumulation of synth.train.optimizer."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from synth.config import base_config
from synth.models import ModelConfig, make_model
from synth.params import param
from synth.train.optimizer import decay_mask, make_optimizer, make_schedule


def opt_config(**overrides):
  o = base_config().optimizer
  o.update(overrides)
  return o


def values(schedule, steps):
  return np.array([float(schedule(s)) for s in steps])


def test_rsqrt_peaks_at_the_end_of_warmup_then_decays():
  schedule = make_schedule(opt_config(schedule="rsqrt", learning_rate=1e-3, warmup_steps=100), 0)
  np.testing.assert_allclose(values(schedule, [0, 49, 99, 399, 9999]),
                             [1e-5, 5e-4, 1e-3, 5e-4, 1e-4], rtol=1e-6)


def test_rsqrt_is_the_transformer_schedule():
  d_model, warmup = 512, 4000
  lr = (d_model * warmup) ** -0.5
  schedule = make_schedule(opt_config(schedule="rsqrt", learning_rate=lr, warmup_steps=warmup), 0)
  steps = np.array([0, 10, 3999, 4000, 20000, 99999])
  s = steps + 1.0
  paper = d_model ** -0.5 * np.minimum(s ** -0.5, s * warmup ** -1.5)
  np.testing.assert_allclose(values(schedule, steps), paper, rtol=1e-5)


def test_cosine_warms_up_then_decays_to_zero():
  schedule = make_schedule(opt_config(schedule="cosine", learning_rate=2.0, warmup_steps=10), 110)
  np.testing.assert_allclose(values(schedule, [0, 9, 10, 60, 110, 500]),
                             [0.2, 2.0, 2.0, 1.0, 0.0, 0.0], atol=1e-6)
  assert 0 < float(schedule(109)) < 1e-3
  with pytest.raises(ValueError, match="num_steps"):
    make_schedule(opt_config(schedule="cosine", warmup_steps=10), 10)


def test_constant_after_warmup_and_without_warmup():
  schedule = make_schedule(opt_config(schedule="constant", learning_rate=0.5, warmup_steps=4), 0)
  np.testing.assert_allclose(values(schedule, [0, 3, 1000]), [0.125, 0.5, 0.5])
  flat = make_schedule(opt_config(schedule="constant", learning_rate=0.5, warmup_steps=0), 0)
  assert float(flat(0)) == 0.5


def test_bad_names_are_errors():
  with pytest.raises(ValueError, match=r"unknown optimizer.schedule 'linear'.*'rsqrt'"):
    make_schedule(opt_config(schedule="linear"), 10)
  with pytest.raises(ValueError, match=r"unknown optimizer.name 'sgd'.*'adafactor'"):
    make_optimizer(opt_config(name="sgd"), num_steps=10)
  with pytest.raises(ValueError, match="adamw"):
    make_optimizer(opt_config(name="adam", weight_decay=0.1), num_steps=10)


class WithBiases(nnx.Module):

  def __init__(self, rngs):
    self.kernel = param(rngs, nnx.initializers.ones, (3, 4), ("embed", "mlp"))
    self.bias = param(rngs, nnx.initializers.ones, (2, 4), ("heads", "kv"))  # per-head bias
    self.shift = param(rngs, nnx.initializers.ones, (4,), ("mlp",))
    self.scalar = param(rngs, nnx.initializers.ones, (), ())


@pytest.mark.parametrize("name", ["adamw", "adafactor"])
def test_weight_decay_skips_biases_and_vectors(name):
  variables = jax.jit(lambda: nnx.state(WithBiases(nnx.Rngs(0)), nnx.Param))()
  mask = nnx.as_pure(decay_mask(variables))
  assert mask == {"kernel": True, "bias": False, "shift": False, "scalar": False}
  tx, _ = make_optimizer(
      opt_config(name=name, weight_decay=0.1, schedule="constant", warmup_steps=0,
                 learning_rate=0.5), num_steps=10)
  decay_only = jax.jit(lambda zeros, params: tx.update(zeros, tx.init(params), params)[0])
  for params in (variables, nnx.as_pure(variables)):  # nnx.Optimizer passes plain arrays
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates = nnx.as_pure(decay_only(zeros, params))
    np.testing.assert_allclose(updates["kernel"], -0.5 * 0.1 * np.ones((3, 4)), rtol=1e-6)
    for unchanged in ("bias", "shift", "scalar"):
      np.testing.assert_array_equal(updates[unchanged], 0.0)


@pytest.mark.parametrize("mixture", ["softmax", "sigmoid"])
def test_weight_decay_skips_mixture_weights_and_the_relative_bias_table(mixture):
  """The rule on a real model: weights (kernels, embeddings, the synthetic matrices R and Dense's
  W_2) decay; biases, norm scales, mixture weights and the relative position bias table, which
  is T5's additive logit bias shared by a stack's layers, do not, whatever their rank."""
  cfg = ModelConfig(kind="decoder", variant="random+vanilla", vocab_size=20, d_model=16,
                    num_heads=2, d_ff=32, num_decoder_layers=2, max_len=8, relative_bias=True,
                    positions="learned", mixture=mixture)
  model = nnx.eval_shape(lambda: make_model(cfg, rngs=nnx.Rngs(0)))
  mask = {jax.tree_util.keystr(path): decays for path, decays in
          jax.tree_util.tree_leaves_with_path(nnx.as_pure(decay_mask(nnx.state(model, nnx.Param))))}
  layer = "['decoder']['layers'][0]['self_attention']"
  assert not mask[layer + "['mixture']['logit']"]
  assert not mask[layer + "['relative_bias']['table']"]  # the stack's one table, counted once
  assert sum("relative_bias" in name for name in mask) == 1
  for decayed in (layer + "['components']['random']['matrix']", layer + "['value']['kernel']",
                  "['embedder']['embed']['table']", "['embedder']['learned']['table']",
                  "['decoder']['layers'][1]['feed_forward']['wi']"):
    assert mask[decayed], decayed
  assert not mask["['decoder']['layers'][1]['feed_forward']['bi']"]
  assert not any(decays for name, decays in mask.items() if "norms" in name)


def test_gradients_are_clipped_to_the_global_norm():
  params = {"w": jnp.zeros((3,)), "v": jnp.zeros((2, 2))}
  grads = {"w": jnp.full((3,), 30.0), "v": jnp.full((2, 2), -40.0)}

  def first_momentum_norm(clip):  # Adam's mu after one step is (1 - b1) * the clipped gradient
    tx, _ = make_optimizer(opt_config(grad_clip_norm=clip, b1=0.5), num_steps=10)
    _, state = tx.update(grads, tx.init(params), params)
    return optax.tree.norm(optax.tree.get(state, "mu")) / (1 - 0.5)

  norms = jax.jit(lambda: (first_momentum_norm(2.0), first_momentum_norm(0.0)))()
  assert float(norms[0]) == pytest.approx(2.0, rel=1e-5)
  assert float(norms[1]) == pytest.approx(float(optax.tree.norm(grads)), rel=1e-5)
