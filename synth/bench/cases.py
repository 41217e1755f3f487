"""The two things the benchmark times: a real train step and cached incremental decoding.

A TrainCase runs the trainer's own jitted step (synth.train.steps.make_train_step on a state from
synth.train.state), so the benchmark measures exactly what `synth train` runs per step: forward,
backward, gradient clipping and the Adam update, on a device-resident batch (data loading is not
timed), for a causal decoder LM or a bidirectional encoder classifier (ModelShape.kind). A
DecodeCase decodes `seq_len` tokens greedily, one jitted lax.fori_loop over the model's
decode=True step with the cache from model.init_cache, which is what the eval decoders do.

Every case sets max_len = seq_len: the length-bound variants are sized for exactly the length
they run, so N = n in the FLOP formulas.
"""
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from synth.attention.causal_blocks import AUTO
from synth.bench.flops import ModelShape, ceiling_flops, train_step_flops
from synth.bench.measure import compiled_flops, compiled_memory_bytes
from synth.models import ModelConfig, make_model


def model_config(variant: str, shape: ModelShape, seq_len: int, dropout_rate: float = 0.0, *,
                 impl: str = "einsum", dtype: str = "float32", causal_block: int = AUTO,
                 scan_layers: bool = False) -> ModelConfig:
  """The model the benchmark runs (pre-LN, sinusoidal positions): shape.kind's, a decoder LM with
  tied embeddings or an encoder classifier, with shape.num_layers layers.

  impl, dtype, causal_block, scan_layers: model.attention_impl, model.dtype (the compute dtype;
  parameters stay float32), model.causal_block and model.scan_layers.
  """
  decoder = shape.kind == "decoder"
  return ModelConfig(kind=shape.kind, variant=variant, d_model=shape.d_model,
                     num_heads=shape.num_heads, d_ff=shape.d_ff,
                     num_decoder_layers=shape.num_layers if decoder else 0,
                     num_encoder_layers=0 if decoder else shape.num_layers,
                     num_classes=shape.num_classes,
                     vocab_size=shape.vocab_size, max_len=seq_len, factor_k=shape.factor_k,
                     factor_a=shape.factor_a, factor_b=shape.factor_b,
                     conv_kernel_sizes=(shape.kernel_size,), linformer_k=shape.linformer_k,
                     dropout_rate=dropout_rate, attention_impl=impl, dtype=dtype,
                     causal_block=causal_block, scan_layers=scan_layers)


def _random_tokens(batch: int, seq_len: int, vocab_size: int, seed: int) -> np.ndarray:
  """Token ids in [1, vocab): no padding, so every position is a real, weighted target."""
  return np.random.default_rng(seed).integers(1, vocab_size, (batch, seq_len), dtype=np.int32)


def random_batch(shape: ModelShape, batch: int, seq_len: int, seed: int) -> dict:
  """A full batch of the shape's kind (synth.kinds documents the keys): next-token rows for the
  decoder LM, labelled rows for the encoder classifier. No segment_ids: rows hold one example,
  as Linformer's fast path needs."""
  if shape.kind == "decoder":
    tokens = _random_tokens(batch, seq_len + 1, shape.vocab_size, seed)
    return {"inputs": tokens[:, :-1], "targets": tokens[:, 1:],
            "weights": np.ones((batch, seq_len), np.float32)}
  labels = np.random.default_rng(seed + 1).integers(0, shape.num_classes, batch, dtype=np.int32)
  return {"inputs": _random_tokens(batch, seq_len, shape.vocab_size, seed), "labels": labels,
          "weights": np.ones((batch,), np.float32)}


class TrainCase:
  """One variant's train step at one length, compiled and ready to run.

  causal_block None (a variant it does not change) builds the model with the default.
  """

  def __init__(self, variant: str, shape: ModelShape, seq_len: int, batch: int, mesh, *,
               dropout_rate: float = 0.0, seed: int = 0, impl: str = "einsum",
               dtype: str = "float32", causal_block: int | None = AUTO,
               scan_layers: bool = False):
    # Imported here: the trainer pulls in ml_collections and optax, which decode mode never needs.
    from synth.config import base_config, mesh_rules
    from synth.parallel import batch_sharding
    from synth.train.optimizer import make_optimizer
    from synth.train.state import init_state, state_layout
    from synth.train.steps import make_train_step

    self.variant, self.seq_len, self.batch = variant, seq_len, batch
    self.impl, self.dtype, self.causal_block = impl, dtype, causal_block
    causal_block = AUTO if causal_block is None else causal_block
    config = base_config()
    rules = mesh_rules(config)
    cfg = model_config(variant, shape, seq_len, dropout_rate, impl=impl, dtype=dtype,
                       causal_block=causal_block, scan_layers=scan_layers)
    tx, schedule = make_optimizer(config.optimizer, num_steps=int(config.train.num_steps))
    layout = state_layout(cfg, tx, mesh, rules, seed)
    self.state, self.rngs = init_state(layout, cfg, tx, seed)
    sharding = batch_sharding(mesh, rules)
    self.batch_arrays = {k: jax.device_put(v, sharding)
                         for k, v in random_batch(shape, batch, seq_len, seed).items()}
    step = make_train_step(layout, tx, schedule, seed=seed)
    start = time.perf_counter()
    self.compiled = step.lower(self.state, self.rngs, self.batch_arrays).compile()
    self.compile_s = time.perf_counter() - start
    self.memory_bytes = compiled_memory_bytes(self.compiled)
    self.xla_flops = compiled_flops(self.compiled, mesh.devices.flat[0].platform)
    self.model_flops = train_step_flops(variant, shape, batch, seq_len)
    platform = mesh.devices.flat[0].platform
    self.ceiling_flops = ceiling_flops(variant, shape, batch, seq_len, impl=impl,
                                       causal_block=causal_block, platform=platform)
    self.tokens = batch * seq_len
    self.params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(self.state["params"]))

  def run(self):
    """One optimizer step; the state is donated and replaced. Returns the loss (an array)."""
    self.state, metrics = self.compiled(self.state, self.rngs, self.batch_arrays)
    return metrics["loss"]


def cache_bytes(model: nnx.Module) -> int:
  """Bytes held by the model's nnx.Cache variables (the decoding cache, indices included)."""
  return sum(int(x.size) * x.dtype.itemsize for x in jax.tree.leaves(nnx.state(model, nnx.Cache)))


class DecodeCase:
  """One variant greedily decoding `seq_len` tokens for `batch` rows with its cache."""

  def __init__(self, variant: str, shape: ModelShape, seq_len: int, batch: int, *,
               seed: int = 0, device=None, impl: str = "einsum", dtype: str = "float32",
               causal_block: int | None = AUTO):
    self.variant, self.seq_len, self.batch = variant, seq_len, batch
    self.impl, self.dtype, self.causal_block = impl, dtype, causal_block
    causal_block = AUTO if causal_block is None else causal_block
    cfg = model_config(variant, shape, seq_len, impl=impl, dtype=dtype,
                       causal_block=causal_block)
    model = make_model(cfg, rngs=nnx.Rngs(params=seed, dropout=seed + 1))
    model.eval()
    # Split before init_cache: the jitted loop allocates its own cache, so each run starts fresh
    # and no cache is copied in.
    graphdef, params = nnx.split(model)
    model.init_cache(batch, seq_len)
    self.cache_bytes = cache_bytes(model)
    del model
    device = device or jax.local_devices()[0]
    self.params = jax.device_put(params, device)
    self.first = jax.device_put(jnp.ones((batch, 1), jnp.int32), device)

    def decode(params, first):
      """Decodes seq_len tokens from a fresh cache; returns the last token and a checksum."""
      model = nnx.merge(graphdef, params)
      model.init_cache(batch, seq_len)
      step_def, cache, rest = nnx.split(model, nnx.Cache, ...)

      def body(_, carry):
        cache, token, total = carry
        m = nnx.merge(step_def, cache, rest)
        logits = m(token, decode=True)[:, -1]
        token = jnp.argmax(logits, axis=-1).astype(jnp.int32)[:, None]
        return nnx.state(m, nnx.Cache), token, total + token.sum()

      init = (cache, first, jnp.zeros((), jnp.int32))
      _, token, total = jax.lax.fori_loop(0, seq_len, body, init)
      return token, total

    start = time.perf_counter()
    self.compiled = jax.jit(decode).lower(self.params, self.first).compile()
    self.compile_s = time.perf_counter() - start
    self.memory_bytes = compiled_memory_bytes(self.compiled)
    self.tokens = batch * seq_len

  def run(self):
    return self.compiled(self.params, self.first)
