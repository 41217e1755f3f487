"""Training losses (and the eval's token accuracy), returned as (weighted sum, sum of weights).

Sums rather than means let the trainer divide once by the total weight across devices and
accumulation steps, so every target token counts the same however the batch was split or packed.
All arithmetic is float32 whatever the logits' dtype.

Weight-0 positions (padding) are selected out, never multiplied by 0: a NaN or infinite output
there would otherwise make the whole sum NaN (NaN x 0 = NaN). Their inputs are replaced before
any arithmetic too, so the gradient is exactly 0 there rather than NaN: a `where` after the
arithmetic alone passes 0 x NaN back through it.
"""
import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy


def _weights(weights, shape):
  if weights is None:
    return jnp.ones(shape, jnp.float32)
  if weights.shape != tuple(shape):
    raise ValueError(f"weights shape {weights.shape} does not match targets shape {tuple(shape)}")
  return weights.astype(jnp.float32)


def cross_entropy(logits, targets, weights=None, label_smoothing: float = 0.0):
  """Softmax cross-entropy of integer `targets` under `logits` (..., V), summed with `weights`.

  Label smoothing (T5 / flax examples): the target puts 1 - ls on the true class and
  ls / (V - 1) on each other class. The entropy of that distribution is subtracted, so the loss
  is a KL divergence whose minimum is 0 (a model matching the smoothed targets), keeping losses
  comparable across smoothing values. Computed from logsumexp without materialising
  log-probabilities or one-hot targets.
  Returns (sum of weighted losses, sum of weights); weights 0 mask positions (padding) out.
  """
  if logits.shape[:-1] != targets.shape:
    raise ValueError(f"logits shape {logits.shape} does not match targets shape {targets.shape}")
  if not 0.0 <= label_smoothing < 1.0:
    raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
  vocab = logits.shape[-1]
  w = _weights(weights, targets.shape)
  keep = w != 0
  logits = jnp.where(keep[..., None], logits.astype(jnp.float32), 0.0)
  lse = jax.nn.logsumexp(logits, axis=-1)
  target_logit = jnp.take_along_axis(logits, targets[..., None].astype(jnp.int32), -1)[..., 0]
  loss = lse - target_logit
  if label_smoothing:
    confidence = 1.0 - label_smoothing
    low = label_smoothing / (vocab - 1)
    others = jnp.sum(logits, axis=-1) - target_logit
    # -(c * log p_t + low * sum_{j != t} log p_j), using c + (V - 1) * low = 1.
    loss = lse - confidence * target_logit - low * others
    entropy = -(xlogy(confidence, confidence) + (vocab - 1) * xlogy(low, low))
    loss = loss - entropy
  # Selected again: a target id out of range at a padding position reads a NaN logit.
  return jnp.sum(jnp.where(keep, loss * w, 0.0)), jnp.sum(w)


def correct_predictions(logits, targets, weights=None):
  """(sum of the weights of positions whose argmax of `logits` (..., V) is the target, sum of
  weights): token accuracy as the same weighted sums as cross_entropy, so it adds up exactly
  across devices and batches and divides once, by the total weight, like the loss.

  Weight-0 positions are selected out: whatever the logits hold there (NaN, a wrong argmax, a
  target id past the vocabulary), they add exactly 0. Ties go to the lowest id (jnp.argmax).
  """
  if logits.shape[:-1] != targets.shape:
    raise ValueError(f"logits shape {logits.shape} does not match targets shape {targets.shape}")
  w = _weights(weights, targets.shape)
  hit = (w != 0) & (jnp.argmax(logits, axis=-1) == targets.astype(jnp.int32))
  return jnp.sum(jnp.where(hit, w, 0.0)), jnp.sum(w)


def classification_loss(logits, labels, weights=None, label_smoothing: float = 0.0):
  """Cross-entropy over classes for logits (batch, classes) and integer labels (batch,)."""
  return cross_entropy(logits, labels, weights, label_smoothing)


def regression_loss(predictions, targets, weights=None):
  """Squared error for a single-output model (num_classes == 1): predictions (batch, 1) or
  (batch,), float targets (batch,). Returns (sum of weighted squared errors, sum of weights)."""
  if predictions.ndim == targets.ndim + 1 and predictions.shape[-1] == 1:
    predictions = predictions[..., 0]
  if predictions.shape != targets.shape:
    raise ValueError(f"predictions shape {predictions.shape} does not match targets shape "
                     f"{targets.shape}")
  w = _weights(weights, targets.shape)
  err = jnp.where(w != 0, predictions.astype(jnp.float32) - targets.astype(jnp.float32), 0.0)
  return jnp.sum(jnp.square(err) * w), jnp.sum(w)
