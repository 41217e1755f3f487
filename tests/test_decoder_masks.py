"""Decoder self-attention masks: the start token (id 0 = padding id) stays visible, so training's
full forward pass sees what cached decoding sees; right padding changes no real position."""
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from synth.models import ModelConfig, make_model

SMALL = dict(vocab_size=20, d_model=32, num_heads=4, d_ff=64, num_encoder_layers=1,
             num_decoder_layers=2, max_len=16, dropout_rate=0.0)


@pytest.mark.parametrize("variant", ["vanilla", "random", "dense+vanilla"])
def test_encoder_decoder_forward_with_start_token_equals_cached_decoding(variant):
  model = make_model(ModelConfig(kind="encoder_decoder", variant=variant, **SMALL),
                     rngs=nnx.Rngs(0))
  rng = np.random.default_rng(0)
  source = jnp.asarray(rng.integers(1, 20, (2, 7)), jnp.int32)
  targets_in = jnp.asarray(np.concatenate([np.zeros((2, 1)), rng.integers(1, 20, (2, 5))], 1),
                           jnp.int32)  # the decoder starts from token 0
  full = model(source, targets_in)
  memory = model.encode(source)
  model.init_cache(2, 16)
  steps = [model.decode(targets_in[:, i:i + 1], memory, source != 0, decode=True)
           for i in range(targets_in.shape[1])]
  np.testing.assert_allclose(full, jnp.concatenate(steps, 1), atol=1e-5)


def test_decoder_lm_right_padding_changes_no_real_position():
  model = make_model(ModelConfig(kind="decoder", variant="random+vanilla", **SMALL),
                     rngs=nnx.Rngs(1))
  tokens = jnp.asarray(np.random.default_rng(1).integers(1, 20, (2, 6)), jnp.int32)
  padded = jnp.pad(tokens, ((0, 0), (0, 4)))
  np.testing.assert_allclose(model(tokens), model(padded)[:, :6], atol=1e-5)
