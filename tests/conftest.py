"""Test setup: 8 simulated CPU devices so every test exercises sharding.

XLA reads its flags when jax initialises its backends, so they are set here, before any test
module imports jax. A persistent compilation cache makes repeated runs ~3x faster.
"""
import os

# The test models are tiny, so XLA's compile time dominates: the two compile-speed flags cut a
# cold run's CPU time by about a third (the numerics stay float32-correct).
TEST_XLA_FLAGS = ("--xla_force_host_platform_device_count=8 --xla_cpu_use_fusion_emitters=false "
                  "--xla_backend_optimization_level=0")
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + TEST_XLA_FLAGS).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "synth-jax-tests")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")

import jax  # noqa: E402  (must come after the flags above)

jax.config.update("jax_enable_x64", False)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def vocab(tmp_path_factory):
  """The tiny LM's 500-piece vocabulary (train_helpers.tiny_config), trained once per session
  (per xdist worker) for every trainer test that runs the embedded corpus."""
  from synth.data.tasks import get_lm_data
  from train_helpers import tiny_config
  path = str(tmp_path_factory.mktemp("vocab") / "spm_500.model")
  get_lm_data(tiny_config(path), str(tmp_path_factory.mktemp("unused")), process_index=0,
              process_count=1)
  return path
