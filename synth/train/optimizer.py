"""Learning-rate schedules and the optax optimizer built from the config's `optimizer` section.

`learning_rate` means the peak learning rate for every schedule, so switching schedules or model
widths never silently changes the step size by orders of magnitude. The original Transformer
schedule, d_model^-0.5 * min(s^-0.5, s * warmup^-1.5), is 'rsqrt' with
learning_rate = (d_model * warmup_steps)^-0.5 (e.g. 512 wide, 4000 warmup: 7.0e-4).

All optimizers share one chain: clip the global gradient norm, precondition (Adam or Adafactor
moments), add decoupled weight decay, scale by the schedule. Decay therefore follows the
schedule as in AdamW (update = -lr(t) * (precond(g) + wd * w)) for Adafactor too.

What weight decay applies to (decay_mask): weights, i.e. the matrices that multiply activations
and the tables and synthetic alignment matrices that stand for them: kernels, embedding and
learned position tables, Random's R (R1, R2), Dense's W_2, Linformer's E and F, the convolution
kernels. Never decayed: biases and norm scales (a 1-D parameter or one named 'bias', which covers
Dense's per-position logit bias b_2), the mixture weights alpha (the softmax weighting's
(components, heads) logits as much as the sigmoid weighting's scalar), and T5's relative
position bias table. Those two act on the logits as biases act on activations: a handful of
numbers per layer, whose decay toward 0 would pull every layer toward a uniform mixture and a
flat position bias at a rate tuned for weights rather than limit capacity. (By rank alone the
softmax logits and the table, both 2-D, would decay and the sigmoid scalar would not.)
"""
import math

import jax
import jax.numpy as jnp
import optax

SCHEDULES = ("rsqrt", "cosine", "constant")
OPTIMIZERS = ("adam", "adamw", "adafactor")

# Names of parameters that are never decayed whatever their rank: per-head biases are stored as
# (heads, ...) stacks of 1-D biases.
_NO_DECAY_NAMES = ("bias",)
# (owning attribute, name) pairs never decayed whatever their rank (see the module doc): the
# mixture weights of synth.attention.mixture and the relative position bias table of
# synth.attention.relative, as SynthesizerAttention holds them.
_NO_DECAY_PATHS = (("mixture", "logit"), ("relative_bias", "table"))


def _warmup(step, warmup_steps: int):
  """Linear ramp reaching 1 on update number `warmup_steps` (step warmup_steps - 1)."""
  if warmup_steps <= 0:
    return jnp.ones_like(step, dtype=jnp.float32)
  return jnp.minimum(1.0, (step + 1.0) / warmup_steps)


def make_schedule(opt_config, num_steps: int) -> optax.Schedule:
  """The learning rate as a function of the optimizer update count (0-based).

  With s = step + 1, w = warmup_steps, lr = learning_rate:
    rsqrt:    lr * min(s / w, sqrt(w / s))   peak lr at s = w, then inverse-sqrt decay
              (w = 0 is taken as 1: rsqrt decay needs a reference step)
    cosine:   lr * s / w during warmup, then lr * (1 + cos(pi * p)) / 2 with
              p = (step - w) / (num_steps - w), reaching 0 at num_steps
    constant: lr * min(1, s / w)
  The update count is the optimizer's, so gradient accumulation does not stretch the schedule.
  """
  name = opt_config.schedule
  lr = float(opt_config.learning_rate)
  warmup = int(opt_config.warmup_steps)
  if warmup < 0:
    raise ValueError(f"optimizer.warmup_steps must be >= 0, got {warmup}")
  if name == "rsqrt":
    ref = max(warmup, 1)

    def schedule(step):
      s = jnp.asarray(step, jnp.float32) + 1.0
      return lr * jnp.minimum(s / ref, jnp.sqrt(ref / s))

  elif name == "cosine":
    if num_steps <= warmup:
      raise ValueError(f"cosine schedule needs num_steps ({num_steps}) > warmup_steps ({warmup})")

    def schedule(step):
      step = jnp.asarray(step, jnp.float32)
      progress = jnp.clip((step - warmup) / (num_steps - warmup), 0.0, 1.0)
      return lr * _warmup(step, warmup) * 0.5 * (1.0 + jnp.cos(math.pi * progress))

  elif name == "constant":

    def schedule(step):
      return lr * _warmup(jnp.asarray(step, jnp.float32), warmup)

  else:
    raise ValueError(f"unknown optimizer.schedule {name!r}; choose one of {SCHEDULES}")
  return schedule


def _path_names(path) -> tuple[str, ...]:
  """The dict/attribute keys of a parameter's path, skipping nnx Variables' trailing '.value'."""
  names = []
  for key in path:
    name = getattr(key, "key", getattr(key, "name", None))
    if isinstance(name, str) and not (isinstance(key, jax.tree_util.GetAttrKey)
                                      and name == "value"):
      names.append(name)
  return tuple(names)


def decay_mask(params):
  """True for the parameters weight decay applies to: weights, not biases (see the module doc).

  Decided by rank (ndim <= 1: biases, norm scales, scalars are not decayed), the name 'bias'
  (per-head biases are 2-D) and the path ends in _NO_DECAY_PATHS (mixture weights, the relative
  position bias table). Rank and paths are the same whether optax sees an nnx.State of Variables
  or the plain arrays nnx.Optimizer passes, so init and update agree.
  """
  def decays(path, x):
    names = _path_names(path)
    if names and names[-1] in _NO_DECAY_NAMES or names[-2:] in _NO_DECAY_PATHS:
      return False
    return jnp.ndim(x) >= 2

  return jax.tree_util.tree_map_with_path(decays, params)


def make_optimizer(opt_config, *, num_steps: int):
  """(optax transformation, schedule) for `opt_config`; schedule(update count) is the lr.

  Gradient accumulation (optimizer.grad_accum_steps) happens inside the train step
  (synth.train.steps), which hands this transformation one mean gradient per update.
  """
  name = opt_config.name
  if name not in OPTIMIZERS:
    raise ValueError(f"unknown optimizer.name {name!r}; choose one of {OPTIMIZERS}")
  weight_decay = float(opt_config.weight_decay)
  if weight_decay and name == "adam":
    raise ValueError("optimizer.weight_decay > 0 needs optimizer.name 'adamw' or 'adafactor'")
  accum = int(opt_config.grad_accum_steps)
  if accum < 1:
    raise ValueError(f"optimizer.grad_accum_steps must be >= 1, got {accum}")
  schedule = make_schedule(opt_config, num_steps)

  chain = []
  if opt_config.grad_clip_norm > 0:
    chain.append(optax.clip_by_global_norm(float(opt_config.grad_clip_norm)))
  if name == "adafactor":
    # Factored second moments with Adafactor's own step-dependent decay, no momentum, and its
    # update clipping (RMS <= 1); b1/b2/eps are Adam's and unused here.
    chain += [optax.scale_by_factored_rms(), optax.clip_by_block_rms(1.0)]
  else:
    chain.append(optax.scale_by_adam(b1=float(opt_config.b1), b2=float(opt_config.b2),
                                     eps=float(opt_config.eps)))
  if weight_decay:
    chain.append(optax.add_decayed_weights(weight_decay, mask=decay_mask))
  chain.append(optax.scale_by_learning_rate(schedule))
  tx = optax.chain(*chain)
  return tx, schedule
