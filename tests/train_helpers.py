"""Shared pieces of the trainer tests: a tiny LM config on the embedded corpus."""
import os
import subprocess
import sys

import ml_collections

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(vocab_path: str, **overrides) -> ml_collections.ConfigDict:
  """The embedded default shrunk to a 1-layer, 32-wide model that trains in seconds."""
  sys.path.insert(0, REPO)
  from configs.lm_python_docs import get_config
  c = get_config()
  c.model.update(vocab_size=500, d_model=32, num_heads=2, d_ff=64, num_decoder_layers=1,
                 max_len=32, dropout_rate=0.1)
  c.data.update(seq_len=32, batch_size=8, eval_batch_size=8, max_eval_examples=48,
                vocab_path=vocab_path)
  c.optimizer.update(warmup_steps=2, learning_rate=3e-3)
  c.eval.update(num_samples=0, max_decode_len=24, prompt_len=8)
  c.train.update(num_steps=8, log_every=1, eval_every=4, checkpoint_every=4, keep=10,
                 keep_best=1)
  for key, value in overrides.items():
    section, field = key.split(".")
    c[section][field] = value
  return c


def config_flags(config: ml_collections.ConfigDict) -> list[str]:
  """--config.a.b=value overrides that reproduce `config` from configs/lm_python_docs.py."""
  sys.path.insert(0, REPO)
  from configs.lm_python_docs import get_config
  base = get_config()
  out = []
  for section in ("model", "data", "optimizer", "train", "mesh", "eval"):
    for field, value in config[section].items():
      if field != "rules" and base[section][field] != value:
        out.append(f"--config.{section}.{field}={value}")
  return out


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
