"""Cross-entropy (with label smoothing and weights), classification and regression losses."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synth.train import losses

# Jitted: one compilation per test instead of one per eager operation.
cross_entropy = jax.jit(losses.cross_entropy, static_argnames="label_smoothing")
classification_loss = jax.jit(losses.classification_loss)
regression_loss = jax.jit(losses.regression_loss)


def hand_cross_entropy(logits, targets, weights):
  logits = np.asarray(logits, np.float64)
  probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  picked = np.take_along_axis(probs, targets[..., None], -1)[..., 0]
  return float((-np.log(picked) * weights).sum()), float(weights.sum())


def test_cross_entropy_matches_a_hand_computation():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 3, 5)).astype(np.float32)
  targets = rng.integers(0, 5, size=(2, 3))
  weights = np.array([[1, 1, 0], [1, 0, 0]], np.float32)
  total, count = cross_entropy(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(weights))
  expected_total, expected_count = hand_cross_entropy(logits, targets, weights)
  assert float(total) == pytest.approx(expected_total, rel=1e-5)
  assert float(count) == expected_count == 3
  unweighted, n = cross_entropy(jnp.asarray(logits), jnp.asarray(targets))
  assert float(unweighted) == pytest.approx(hand_cross_entropy(logits, targets, np.ones((2, 3)))[0],
                                            rel=1e-5)
  assert float(n) == 6


def test_weights_mask_positions_out():
  rng = np.random.default_rng(1)
  logits = jnp.asarray(rng.normal(size=(4, 6)), jnp.float32)
  targets = jnp.array([0, 1, 2, 3])
  weights = jnp.array([1.0, 1.0, 0.0, 0.0])
  garbage = logits.at[2:].set(1e4)
  assert float(cross_entropy(garbage, targets, weights)[0]) == pytest.approx(
      float(cross_entropy(logits, targets, weights)[0]), rel=1e-6)
  grads = jax.grad(lambda l: cross_entropy(l, targets, weights)[0])(logits)
  np.testing.assert_array_equal(grads[2:], 0.0)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_logits_at_weight_zero_positions_do_not_reach_the_loss(bad, smoothing):
  """Weight-0 positions (padding) are selected out, not multiplied by 0: NaN x 0 is NaN."""
  rng = np.random.default_rng(3)
  logits = jnp.asarray(rng.normal(size=(4, 6)), jnp.float32)
  targets = jnp.array([0, 1, 2, 3])
  weights = jnp.array([1.0, 1.0, 0.0, 0.0])
  poisoned = logits.at[2, 1].set(bad).at[3].set(bad)
  loss = lambda l: cross_entropy(l, targets, weights, label_smoothing=smoothing)[0]
  assert float(loss(poisoned)) == pytest.approx(float(loss(logits)), rel=1e-6)
  grads = jax.grad(loss)(poisoned)
  np.testing.assert_array_equal(grads[2:], 0.0)
  np.testing.assert_allclose(grads[:2], jax.grad(loss)(logits)[:2], rtol=1e-6)
  # Contrast: at a weighted position the same logit does poison the loss.
  assert not np.isfinite(float(loss(logits.at[0, 1].set(np.nan))))


def test_non_finite_predictions_at_weight_zero_positions_do_not_reach_the_regression_loss():
  predictions = jnp.array([1.0, 2.0, np.nan, np.inf])
  targets = jnp.array([0.5, 2.0, 3.0, 1.0])
  weights = jnp.array([1.0, 1.0, 0.0, 0.0])
  total, count = regression_loss(predictions, targets, weights)
  assert float(total) == pytest.approx(0.25) and float(count) == 2
  grads = jax.grad(lambda p: regression_loss(p, targets, weights)[0])(predictions)
  np.testing.assert_array_equal(grads, [1.0, 0.0, 0.0, 0.0])


def test_stable_in_float32_for_large_and_bfloat16_logits():
  logits = jnp.array([[1e4, -1e4, 0.0], [3.0, 2.0, 1.0]], jnp.bfloat16)
  total, _ = cross_entropy(logits, jnp.array([1, 0]), label_smoothing=0.1)
  assert total.dtype == jnp.float32 and np.isfinite(float(total))


@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_label_smoothing_minimum_is_zero_at_the_smoothed_targets(smoothing):
  vocab, target = 7, 3
  smoothed = np.full((vocab,), smoothing / (vocab - 1))
  smoothed[target] = 1 - smoothing
  at_minimum = jnp.asarray(np.log(smoothed)[None], jnp.float32)
  targets = jnp.array([target])
  loss, _ = cross_entropy(at_minimum, targets, label_smoothing=smoothing)
  assert abs(float(loss)) < 1e-5
  rng = np.random.default_rng(2)
  for _ in range(3):
    other = at_minimum + jnp.asarray(rng.normal(size=(1, vocab)), jnp.float32)
    assert float(cross_entropy(other, targets, label_smoothing=smoothing)[0]) > 1e-3
  # Against the explicit KL(smoothed || softmax(logits)).
  logits = jnp.asarray(rng.normal(size=(1, vocab)), jnp.float32)
  kl = float(np.sum(smoothed * (np.log(smoothed) - jax.nn.log_softmax(logits)[0])))
  assert float(cross_entropy(logits, targets, label_smoothing=smoothing)[0]) == pytest.approx(
      kl, rel=1e-5)


def test_bad_arguments_are_errors():
  with pytest.raises(ValueError, match="does not match targets"):
    cross_entropy(jnp.zeros((2, 3, 5)), jnp.zeros((2, 4), jnp.int32))
  with pytest.raises(ValueError, match="label_smoothing"):
    cross_entropy(jnp.zeros((2, 5)), jnp.zeros((2,), jnp.int32), label_smoothing=1.0)
  with pytest.raises(ValueError, match="weights shape"):
    cross_entropy(jnp.zeros((2, 5)), jnp.zeros((2,), jnp.int32), jnp.ones((3,)))
  with pytest.raises(ValueError, match="predictions shape"):
    regression_loss(jnp.zeros((2, 3)), jnp.zeros((2,)))


def test_classification_and_regression_losses():
  logits = jnp.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
  labels = jnp.array([0, 2])
  total, count = classification_loss(logits, labels)
  expected = hand_cross_entropy(np.asarray(logits), np.asarray(labels), np.ones(2))[0]
  assert float(total) == pytest.approx(expected, rel=1e-6) and float(count) == 2
  predictions = jnp.array([[1.0], [2.0], [5.0]])  # num_classes == 1
  targets = jnp.array([0.5, 2.0, 3.0])
  total, count = regression_loss(predictions, targets, jnp.array([1.0, 1.0, 0.0]))
  assert float(total) == pytest.approx(0.25) and float(count) == 2
  assert float(regression_loss(predictions[:, 0], targets)[0]) == pytest.approx(4.25)
