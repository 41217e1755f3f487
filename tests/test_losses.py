"""Cross-entropy (with label smoothing and weights), classification and regression losses."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synth.kinds import model_kind
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


# ------------------------------------------------------------------------------------------------
# Token accuracy: the eval step's correct_sum and loss_metrics' `accuracy`.
# ------------------------------------------------------------------------------------------------

correct_predictions = jax.jit(losses.correct_predictions)


def _fake_eval_step(params, frozen, rngs, batch):
  """An eval step whose 'model' outputs the logits the batch carries: eval_sums as the jitted
  eval step computes them, without a model."""
  del params, frozen, rngs
  return jax.jit(model_kind("decoder").eval_sums)(batch["logits"], batch)


def _accuracy(batches) -> dict:
  from synth.eval.evaluate import loss_metrics
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  return loss_metrics(_fake_eval_step, {"params": None, "frozen": None}, None, batches, sharding)


def test_token_accuracy_matches_a_hand_count():
  """Six positions over a vocabulary of 4; the argmax of each row is the index of its 5."""
  nan = np.nan
  logits = np.array([[[0, 0, 5, 0],        # argmax 2, target 2, weight 1: correct
                      [5, 0, 0, 0],        # argmax 0, target 3, weight 1: wrong
                      [0, 5, 0, 0],        # argmax 1, target 1, weight 2: correct, counts 2
                      [0, 0, 0, 5],        # argmax 3, target 0, weight 0: wrong, not counted
                      [5, 0, 0, 0],        # argmax 0, target 0, weight 0: right, not counted
                      [nan, 5, nan, 0]]],  # NaN, target past the vocabulary, weight 0
                    np.float32)
  targets = np.array([[2, 3, 1, 0, 0, 7]], np.int32)
  weights = np.array([[1, 1, 2, 0, 0, 0]], np.float32)
  correct, total = correct_predictions(jnp.asarray(logits), jnp.asarray(targets),
                                       jnp.asarray(weights))
  assert (float(correct), float(total)) == (3.0, 4.0)
  metrics = _accuracy([{"inputs": targets, "targets": targets, "weights": weights,
                        "logits": logits}])
  assert metrics["accuracy"] == 75.0 and metrics["tokens"] == 4.0
  assert np.isfinite(metrics["loss"])  # the NaN row is selected out of the loss as well
  # Contrast: the same NaN row at a weighted position is a wrong answer, not a NaN count.
  counted = correct_predictions(jnp.asarray(logits), jnp.asarray(targets),
                                jnp.asarray(weights).at[0, 5].set(1.0))
  assert np.isfinite(float(counted[0])) and float(counted[1]) == 5.0


def test_token_accuracy_is_100_for_the_targets_and_0_for_a_wrong_id():
  """Over several batches with padding (weight 0, NaN logits): one-hot logits on the target
  score 100, on any other id 0, and on the target at a random half of the positions the
  weighted fraction of that half."""
  rng = np.random.default_rng(4)
  vocab = 11

  def batches(pick):
    out = []
    for _ in range(3):
      targets = rng.integers(1, vocab, size=(4, 9)).astype(np.int32)
      weights = (rng.random((4, 9)) < 0.7).astype(np.float32)
      logits = 10.0 * np.eye(vocab, dtype=np.float32)[pick(targets)]
      logits[weights == 0] = np.nan
      out.append({"inputs": targets, "targets": targets, "weights": weights, "logits": logits})
    return out

  assert _accuracy(batches(lambda t: t))["accuracy"] == 100.0
  assert _accuracy(batches(lambda t: (t + rng.integers(1, vocab, t.shape)) % vocab))[
      "accuracy"] == 0.0
  half = rng.random((4, 9)) < 0.5
  mixed = batches(lambda t: np.where(half, t, (t + 1) % vocab))
  expected = 100.0 * sum(float(b["weights"][half].sum()) for b in mixed) / sum(
      float(b["weights"].sum()) for b in mixed)
  assert 0.0 < expected < 100.0
  assert _accuracy(mixed)["accuracy"] == pytest.approx(expected, rel=1e-6)


def test_only_decoder_lms_report_token_accuracy():
  """A classifier's accuracy is its task metric (task_metrics), not a count in the loss pass."""
  logits = jnp.asarray(np.eye(3, dtype=np.float32))
  batch = {"labels": jnp.array([0, 1, 2]), "targets": jnp.array([0, 1, 2]),
           "weights": jnp.ones(3)}
  assert "correct_sum" not in model_kind("encoder_classifier").eval_sums(logits, batch)
  assert "correct_sum" not in model_kind("encoder_decoder").eval_sums(logits, batch)
  assert float(model_kind("decoder").eval_sums(logits, batch)["correct_sum"]) == 3.0
