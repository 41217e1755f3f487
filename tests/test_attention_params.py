"""Property tests of synth.attention parameters: what is trained and what is frozen, the factorized
dense outer product, mixture weights, length limits and errors, logical axes and sharding.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P

from synth.attention import VARIANTS, WEIGHTINGS, make_attention, parse_variant
from synth.params import LOGICAL_AXES, FrozenParam, count_params, logical_axes

D, H, N = 32, 4, 16  # d_model, heads, max_len
MIXTURES = ("random+vanilla", "dense+vanilla", "random+dense")
ALL = VARIANTS + MIXTURES
BOUND = tuple(v for v in ALL if v != "vanilla")
EVERYTHING = "+".join(VARIANTS)  # one mixture holding every component


def build(variant, *, causal=False, mixture="softmax", seed=0, **kw):
  """A small attention layer with every parameter perturbed away from its initial value."""
  model = make_attention(variant, d_model=D, num_heads=H, max_len=N, rngs=nnx.Rngs(seed),
                         causal=causal, mixture=mixture, **kw)
  state = nnx.state(model, nnx.Any(nnx.Param, FrozenParam))
  rng = np.random.default_rng(1000 + seed)  # numpy: no per-shape XLA compiles in the tests

  def shake(path, leaf):
    scale = 1.0 if "mixture" in jax.tree_util.keystr(path) else 0.2
    return jnp.asarray(np.asarray(leaf) + scale * rng.standard_normal(leaf.shape), leaf.dtype)

  nnx.update(model, jax.tree_util.tree_map_with_path(shake, state))
  return model


def inputs(seed, batch, n):
  return jnp.asarray(np.random.default_rng(seed).standard_normal((batch, n, D)), jnp.float32)


def optimizer_step(model, seed=0):
  """One Adam step on a regression loss of the layer's output; Adam moves every nonzero-grad Param.

  Eager on purpose: the tiny eager ops are shared by every variant, a jitted step is not.
  """
  x = inputs(seed, 2, 10)
  target = inputs(seed + 1, 2, 10)
  optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
  grads = nnx.grad(lambda m: jnp.mean((m(x) - target) ** 2))(model)
  optimizer.update(model, grads)


def snapshot(variable):
  return np.array(variable[...], copy=True)


# ---------------------------------------------------------------------------------------------
# Trained and frozen parameters.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["fixed_random", "random", "fixed_random+vanilla"])
def test_fixed_random_matrix_is_not_trained(variant):
  model = build(variant)
  name = parse_variant(variant)[0]
  matrix = model.components[name].matrix
  fixed = name == "fixed_random"
  assert isinstance(matrix, FrozenParam if fixed else nnx.Param)
  assert isinstance(matrix, nnx.Param) != fixed
  before_r, before_v = snapshot(matrix), snapshot(model.value.kernel)
  optimizer_step(model)
  after_r = snapshot(model.components[name].matrix)
  assert np.abs(snapshot(model.value.kernel) - before_v).max() > 1e-4  # the step did happen
  if fixed:
    np.testing.assert_array_equal(after_r, before_r)
  else:
    assert np.abs(after_r - before_r).max() > 1e-4


def test_parameter_counts():
  """Trainable alignment parameters per variant: the table in docs/math.md, Parameter counts."""
  vo = 2 * D * D  # value and output projections, shared by every variant
  dh = D // H
  expected = {
      "vanilla": vo + 2 * D * D,
      "random": vo + H * N * N,
      "fixed_random": vo,  # R is frozen: not trainable
      "factorized_random": vo + 2 * H * N * 8,
      # W_1 (d x d) + b_1, W_2 (d x N over heads: H * d_h * N = d N) + b_2 (H x N).
      "dense": vo + D * D + H * dh + D * N + H * N,
      "factorized_dense": vo + D * D + H * dh + H * dh * (4 + 4),
  }
  for variant, count in expected.items():
    assert count_params(build(variant)) == count, variant
  assert count_params(build("fixed_random"), FrozenParam) == H * N * N
  mix = expected["random"] + 2 * D * D
  assert count_params(build("random+vanilla", mixture="softmax")) == mix + 2 * H
  assert count_params(build("random+vanilla", mixture="sigmoid")) == mix + 1
  assert count_params(build("random+vanilla", mixture="sum")) == mix


# ---------------------------------------------------------------------------------------------
# Factorized dense rows are flattened outer products.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("factor_a,factor_b", [(4, 4), (2, 8), (8, 2)])
def test_factorized_dense_rows_are_outer_products(factor_a, factor_b):
  model = build("factorized_dense", factor_a=factor_a, factor_b=factor_b)
  comp = model.components["factorized_dense"]
  assert (comp.factor_a, comp.factor_b) == (factor_a, factor_b)
  x = inputs(0, 2, N)
  rows = np.asarray(comp(x), np.float64)  # (B, H, N, N): row i over all N key positions
  # By hand, in float64: h = relu(x W_1 + b_1), A = h W_A, B = h W_B, logit[p * b + q] = A[p] B[q].
  w1 = np.asarray(comp.hidden.kernel[...], np.float64)
  b1 = np.asarray(comp.hidden.bias[...], np.float64)
  h = np.maximum(np.einsum("bnd,dhk->bnhk", np.asarray(x, np.float64), w1) + b1, 0.0)
  a = np.einsum("bnhk,hka->bhna", h, np.asarray(comp.kernel_a[...], np.float64))
  b = np.einsum("bnhk,hkc->bhnc", h, np.asarray(comp.kernel_b[...], np.float64))
  expected = np.einsum("bhnp,bhnq->bhnpq", a, b)
  np.testing.assert_allclose(rows.reshape(expected.shape), expected, rtol=1e-4, atol=1e-5)
  grids = rows.reshape(-1, factor_a, factor_b)
  singular = np.linalg.svd(grids, compute_uv=False)
  assert np.all(singular[:, 0] > 1e-3)
  assert np.all(singular[:, 1] <= 1e-5 * singular[:, 0])  # rank 1
  # Tiling both factors would make every row periodic with period lcm(a, b) (= gcd when a == b).
  period = math.lcm(factor_a, factor_b)
  flat = rows.reshape(-1, N)
  if period < N:
    assert np.all(np.abs(flat[:, period:] - flat[:, :-period]).max(axis=1) > 1e-4)
  g = math.gcd(factor_a, factor_b)
  assert np.all(np.abs(flat[:, g:] - flat[:, :-g]).max(axis=1) > 1e-4)


@pytest.mark.parametrize("factors", [dict(factor_a=3, factor_b=5), dict(factor_a=5),
                                     dict(factor_a=4, factor_b=8)])
def test_factorized_dense_factors_must_multiply_to_max_len(factors):
  with pytest.raises(ValueError, match="factor_a"):
    make_attention("factorized_dense", d_model=D, num_heads=H, max_len=N, rngs=nnx.Rngs(0),
                   **factors)


# ---------------------------------------------------------------------------------------------
# Mixture weights.
# ---------------------------------------------------------------------------------------------

def _hand_alpha(model):
  """alpha (components, heads) from the raw mixture parameters (docs/math.md, Mixtures)."""
  weighting = model.mixture.weighting
  c = len(model.components)
  if weighting == "sum":
    return np.ones((c, H))
  w = np.asarray(model.mixture.logit[...], np.float64)
  if weighting == "sigmoid":
    s = 1.0 / (1.0 + np.exp(-w))
    return np.stack([np.full(H, 1.0 - s), np.full(H, s)])
  e = np.exp(w - w.max(axis=0))
  return e / e.sum(axis=0)


def _softmax(z):
  z = z - z.max(axis=-1, keepdims=True)
  e = np.exp(z)
  return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("causal", [False, True], ids=["bidir", "causal"])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("variant", MIXTURES)
def test_mixture_mixes_logits_in_one_softmax(variant, weighting, causal):
  n = 10
  model = build(variant, mixture=weighting, causal=causal)
  x = inputs(0, 2, n)
  _, weights = model(x, return_weights=True)
  alpha = _hand_alpha(model)
  np.testing.assert_allclose(np.asarray(model.mixture()), alpha, rtol=1e-5, atol=1e-6)
  logits = [np.broadcast_to(np.asarray(model.components[name](x), np.float64), (2, H, n, n))
            for name in parse_variant(variant)]
  mixed = sum(alpha[m][None, :, None, None] * s for m, s in enumerate(logits))
  if causal:
    mixed = np.where(np.tril(np.ones((n, n), bool)), mixed, -np.inf)
  np.testing.assert_allclose(np.asarray(weights), _softmax(mixed), rtol=1e-4, atol=1e-5)
  # Contrast: mixing the probabilities instead gives something else.
  masked = [np.where(np.tril(np.ones((n, n), bool)), s, -np.inf) if causal else s
            for s in logits]
  mixed_probs = sum(alpha[m][None, :, None, None] * _softmax(s) for m, s in enumerate(masked))
  mixed_probs /= alpha.sum(axis=0)[None, :, None, None]
  assert np.abs(np.asarray(weights) - mixed_probs).max() > 1e-3


@pytest.mark.parametrize("variant", MIXTURES + ("random+dense+vanilla",))
def test_softmax_mixture_weights_sum_to_one_and_are_learned(variant):
  model = make_attention(variant, d_model=D, num_heads=H, max_len=N, rngs=nnx.Rngs(0))
  c = len(parse_variant(variant))
  alpha = np.asarray(model.mixture())
  assert alpha.shape == (c, H)
  np.testing.assert_allclose(alpha, 1.0 / c, rtol=1e-6)  # initialised uniform
  before = snapshot(model.mixture.logit)
  optimizer_step(model)
  alpha = np.asarray(model.mixture())
  np.testing.assert_allclose(alpha.sum(axis=0), 1.0, rtol=1e-6)
  assert np.abs(snapshot(model.mixture.logit) - before).max() > 1e-4
  assert np.abs(alpha - 1.0 / c).max() > 1e-5


def test_sigmoid_mixture_is_one_learned_scalar():
  model = make_attention("random+vanilla", d_model=D, num_heads=H, max_len=N,
                         rngs=nnx.Rngs(0), mixture="sigmoid")
  assert model.mixture.logit.shape == ()
  np.testing.assert_allclose(np.asarray(model.mixture()), 0.5)  # a initialised at 0
  optimizer_step(model)
  alpha = np.asarray(model.mixture())
  assert abs(float(alpha[1, 0]) - 0.5) > 1e-4
  np.testing.assert_allclose(alpha, _hand_alpha(model), rtol=1e-6)


def test_sigmoid_mixture_of_three_raises():
  with pytest.raises(ValueError, match="sigmoid"):
    make_attention("random+dense+vanilla", d_model=D, num_heads=H, max_len=N, rngs=nnx.Rngs(0),
                   mixture="sigmoid")
  with pytest.raises(ValueError, match="bogus"):
    make_attention("random+vanilla", d_model=D, num_heads=H, max_len=N, rngs=nnx.Rngs(0),
                   mixture="bogus")


def test_sum_mixture_is_all_ones():
  model = build("random+dense+vanilla", mixture="sum")
  np.testing.assert_array_equal(np.asarray(model.mixture()), np.ones((3, H)))
  assert not nnx.state(model.mixture, nnx.Param)  # nothing to learn


# ---------------------------------------------------------------------------------------------
# Length limits and unknown names.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", BOUND)
def test_length_bound_variants_reject_long_inputs(variant):
  model = build(variant, causal=True)
  with pytest.raises(ValueError) as err:
    model(inputs(0, 1, N + 1))
  message = str(err.value)
  assert variant in message and str(N + 1) in message and str(N) in message, message
  with pytest.raises(ValueError) as err:
    model.init_cache(1, N + 1)
  assert variant in str(err.value) and str(N + 1) in str(err.value)
  assert model(inputs(0, 1, N)).shape == (1, N, D)  # exactly max_len is fine
  model.init_cache(1, N)


def test_vanilla_has_no_length_limit():
  model = build("vanilla", causal=True)
  assert model(inputs(0, 1, N + 1)).shape == (1, N + 1, D)
  model.init_cache(1, N + 1)


@pytest.mark.parametrize("variant", ["foo", "random+foo", "foo+vanilla"])
def test_unknown_variant_is_named(variant):
  with pytest.raises(ValueError, match="'foo'"):
    make_attention(variant, d_model=D, num_heads=H, max_len=N, rngs=nnx.Rngs(0))


def test_repeated_component_raises():
  with pytest.raises(ValueError, match="repeats"):
    make_attention("random+random", d_model=D, num_heads=H, max_len=N, rngs=nnx.Rngs(0))


# ---------------------------------------------------------------------------------------------
# Logical axes and sharding.
# ---------------------------------------------------------------------------------------------

AXIS_SIZES = {"embed": D, "heads": H, "kv": D // H, "length": N}


def _variables(model):
  return [(path, node) for path, node in nnx.iter_graph(model)
          if isinstance(node, (nnx.Param, FrozenParam))]


@pytest.mark.parametrize("variant", ALL + (EVERYTHING,))
def test_every_parameter_has_logical_axes(variant):
  model = make_attention(variant, d_model=D, num_heads=H, max_len=N, rngs=nnx.Rngs(0))
  variables = _variables(model)
  assert variables
  for path, var in variables:
    assert LOGICAL_AXES in var.get_metadata(), path
    axes = logical_axes(var)
    assert len(axes) == var[...].ndim, (path, axes, var.shape)
    for name, size in zip(axes, var.shape):
      if name == "length":  # N, or a factorized dense factor (a or b, a * b = N)
        assert N % size == 0, (path, axes, var.shape)
      elif name is not None:
        assert AXIS_SIZES[name] == size, (path, axes, var.shape)
  # Every per-head tensor says so (it is what model parallelism splits).
  assert any("heads" in logical_axes(v) for _, v in variables)


RULES = {"heads": "tensor"}  # a tiny local stand-in for synth.parallel's logical rules


def _sharding(mesh, var):
  return NamedSharding(mesh, P(*(RULES.get(name) for name in logical_axes(var))))


@pytest.mark.parametrize("variant", [EVERYTHING])  # every component (and vanilla) in one layer
def test_sharded_forward_and_backward(variant):
  mesh = jax.make_mesh((4, 2), ("data", "tensor"),
                       axis_types=(jax.sharding.AxisType.Auto,) * 2)
  model = build(variant, causal=True)
  x = inputs(0, 8, 10)
  mask = jnp.arange(10)[None, :] < jnp.asarray([10, 7, 5, 10, 3, 10, 9, 1])[:, None]
  target = inputs(1, 8, 10)

  def loss(params, rest, x, mask, target):
    m = nnx.merge(graphdef, params, rest)
    return jnp.mean((m(x, mask=mask) - target) ** 2)

  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  # The same step on one device is the reference.
  expected_loss, expected_grads = jax.jit(jax.value_and_grad(loss))(params, rest, x, mask, target)

  is_var = lambda v: isinstance(v, nnx.Variable)  # noqa: E731
  param_sh = jax.tree.map(lambda v: _sharding(mesh, v), params, is_leaf=is_var)
  rest_sh = jax.tree.map(lambda v: _sharding(mesh, v), rest, is_leaf=is_var)
  data_sh = NamedSharding(mesh, P("data"))
  params = jax.device_put(params, param_sh)
  rest = jax.device_put(rest, rest_sh)
  x, mask, target = (jax.device_put(a, data_sh) for a in (x, mask, target))
  step = jax.jit(jax.value_and_grad(loss), out_shardings=(None, param_sh))
  value, grads = step(params, rest, x, mask, target)

  np.testing.assert_allclose(float(value), float(expected_loss), rtol=1e-5)
  for (path, g), (_, e), (_, p) in zip(jax.tree_util.tree_leaves_with_path(grads),
                                       jax.tree_util.tree_leaves_with_path(expected_grads),
                                       jax.tree_util.tree_leaves_with_path(params)):
    np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-6,
                               err_msg=jax.tree_util.keystr(path))
    assert g.sharding.is_equivalent_to(p.sharding, g.ndim), jax.tree_util.keystr(path)
    assert np.abs(np.asarray(g)).max() > 0, jax.tree_util.keystr(path)
  # The heads axis really is split over 'tensor': each device holds half of the heads.
  kernel = params["value"]["kernel"]
  assert kernel.sharding.spec == P(None, "tensor", None)
  assert kernel.addressable_shards[0].data.shape == (D, H // 2, D // H)
  if variant == EVERYTHING:
    frozen = rest["components"]["fixed_random"]["matrix"]
    assert frozen.addressable_shards[0].data.shape == (H // 2, N, N)
