"""Shared pieces of the trainer tests: a tiny LM config on the embedded corpus."""
import os
import subprocess
import sys

import ml_collections

from synth.config import load_config, override_flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The config file the trainer tests shrink.
TINY_CONFIG = os.path.join(REPO, "configs", "lm_python_docs.py")


def tiny_overrides(vocab_path: str, **overrides) -> dict:
  """The overrides that shrink configs/lm_python_docs.py to a 1-layer, 32-wide model that trains
  in seconds, plus `overrides` ({'train.num_steps': 4, ...})."""
  return {"model.vocab_size": 500, "model.d_model": 32, "model.num_heads": 2, "model.d_ff": 64,
          "model.num_decoder_layers": 1, "model.max_len": 32, "model.dropout_rate": 0.1,
          "data.seq_len": 32, "data.batch_size": 8, "data.eval_batch_size": 8,
          "data.max_eval_examples": 48, "data.vocab_path": vocab_path,
          "optimizer.warmup_steps": 2, "optimizer.learning_rate": 3e-3,
          "eval.num_samples": 0, "eval.max_decode_len": 24, "eval.prompt_len": 8,
          "train.num_steps": 8, "train.log_every": 1, "train.eval_every": 4,
          "train.checkpoint_every": 4, "train.keep": 10, "train.keep_best": 1, **overrides}


def tiny_config(vocab_path: str, **overrides) -> ml_collections.ConfigDict:
  """configs/lm_python_docs.py with tiny_overrides applied, as `synth train` would build it."""
  return load_config(TINY_CONFIG, tiny_overrides(vocab_path, **overrides))


def tiny_flags(vocab_path: str, **overrides) -> list[str]:
  """The --config.a.b=value flags that make `synth train --config=configs/lm_python_docs.py`
  train tiny_config(vocab_path, **overrides)."""
  return override_flags(tiny_overrides(vocab_path, **overrides))


def synth_command(*args: str) -> list[str]:
  return [sys.executable, "-m", "synth.main", *args]


def run_synth(*args: str, timeout: float = 300, env_devices: int = 8, cwd: str = REPO):
  """Runs `python -m synth.main ARGS` in `cwd` in a subprocess with `env_devices` CPU devices."""
  env = synth_env(env_devices)
  return subprocess.run(synth_command(*args), cwd=cwd, env=env, capture_output=True, text=True,
                        timeout=timeout)


def synth_env(env_devices: int = 8) -> dict:
  """The environment of a `synth` subprocess: CPU, `env_devices` devices, fast compiles."""
  flags = (f"--xla_force_host_platform_device_count={env_devices} "
           "--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0")
  return dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")


class SimulatedCrash(RuntimeError):
  """What crash_at_step's train step raises."""


def crash_at_step(monkeypatch, n: int) -> None:
  """Makes the n-th call of the trainer's train step raise SimulatedCrash, as a crash mid-run
  would (undone with the test's monkeypatch)."""
  from synth.train import trainer
  real_make_train_step = trainer.make_train_step

  def make_train_step(*args, **kwargs):
    step_fn, calls = real_make_train_step(*args, **kwargs), []

    def step(*a):
      calls.append(1)
      if len(calls) == n:
        raise SimulatedCrash(f"simulated crash in train step call {n}")
      return step_fn(*a)
    return step

  monkeypatch.setattr(trainer, "make_train_step", make_train_step)
