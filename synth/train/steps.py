"""The jitted train and eval steps: pure functions of (state, batch).

Gradient accumulation splits the global batch into `accum` micro-batches inside the step
(lax.scan), so one call is one optimizer update whatever the accumulation, memory holds one
micro-batch of activations, and the loss is the exact token-weighted mean over the whole batch.
"""
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from synth.kinds import model_kind
from synth.train.state import StateLayout


def _micro_batches(batch, accum: int):
  """(B, ...) -> (accum, B / accum, ...), micro-batch i = rows i, i + accum, ...

  Strided rather than contiguous rows keep every micro-batch spread over all data shards.
  """
  def split(x):
    if x.shape[0] % accum:
      raise ValueError(f"batch size {x.shape[0]} is not divisible by grad_accum_steps={accum}")
    return x.reshape(x.shape[0] // accum, accum, *x.shape[1:]).swapaxes(0, 1)

  return jax.tree.map(split, batch)


def make_train_step(layout: StateLayout, tx, schedule, *, seed: int, accum: int = 1,
                    label_smoothing: float = 0.0):
  """Returns jitted train_step(state, rngs, batch) -> (state, metrics); the state is donated."""
  parts = layout.parts
  kind = model_kind(parts.kind)
  dropout_key = jax.random.key(seed + 2)

  def micro_step(params, frozen, rngs, batch, key):
    def loss_fn(p):
      model = parts.merge(p, frozen, rngs, train=True)
      # match_shape: the stacked layers of model.scan_layers hold one dropout key per layer,
      # and each gets its own split of `key`; a scalar key (unscanned layers) is `key` itself.
      nnx.reseed(model, dropout=key, policy="match_shape")
      loss_sum, weight_sum = kind.loss_sums(kind.outputs(model, batch), batch, label_smoothing)
      return loss_sum, weight_sum
    (loss_sum, weight_sum), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    return loss_sum, weight_sum, grads

  def train_step(state, rngs, batch):
    params, frozen = state["params"], state["frozen"]
    step_key = jax.random.fold_in(dropout_key, state["step"])
    if accum == 1:
      loss_sum, weight_sum, grads = micro_step(params, frozen, rngs, batch, step_key)
    else:
      def body(carry, xs):
        index, micro = xs
        l, w, g = micro_step(params, frozen, rngs, micro, jax.random.fold_in(step_key, index))
        return jax.tree.map(jnp.add, carry, (l, w, g)), None
      zeros = (jnp.zeros(()), jnp.zeros(()), jax.tree.map(jnp.zeros_like, params))
      (loss_sum, weight_sum, grads), _ = jax.lax.scan(
          body, zeros, (jnp.arange(accum), _micro_batches(batch, accum)))
    # Gradients of the token-weighted mean loss over the whole batch.
    denom = jnp.maximum(weight_sum, 1.0)
    grads = jax.tree.map(lambda g: g / denom, grads)
    updates, opt_state = tx.update(grads, state["opt_state"], params)
    new_state = {"step": state["step"] + 1, "params": optax.apply_updates(params, updates),
                 "frozen": frozen, "opt_state": opt_state}
    metrics = {"loss": loss_sum / denom, "weight_sum": weight_sum,
               "grad_norm": optax.tree.norm(grads), "learning_rate": schedule(state["step"])}
    return new_state, metrics

  return jax.jit(train_step, donate_argnums=(0,),
                 out_shardings=(layout.shardings, None))


def make_eval_step(layout: StateLayout):
  """Returns jitted eval_step(params, frozen, rngs, batch) -> the kind's eval_sums (synth.kinds)
  of the model's outputs."""
  parts = layout.parts
  kind = model_kind(parts.kind)

  def eval_step(params, frozen, rngs, batch):
    return kind.eval_sums(kind.outputs(parts.merge(params, frozen, rngs, train=False), batch),
                          batch)

  return jax.jit(eval_step)
