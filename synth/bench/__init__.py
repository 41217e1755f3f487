"""`synth bench`: step time, tokens/s, MFU, memory and decoding speed of every attention variant.

    from synth.bench import run_bench
    report = run_bench(["vanilla", "random"], seq_lens=[256, 1024], json_path="bench.json")

or from the shell: `python -m synth.bench --variants=all --seq_lens=256,1024 --mode=train`.
See run.py (what is timed and how), flops.py (the FLOP formulas) and measure.py (peak, memory).

Only the command line is imported eagerly; everything else on first use, so that
`synth bench --help` and argument errors answer without importing jax.
"""
import importlib

from synth.bench.cli import main

_LAZY = {"MODES": "run", "check_args": "run", "format_table": "run", "run_bench": "run",
         "run_compile_bench": "run", "ceiling_flops": "flops", "token_token_fractions": "flops",
         "ModelShape": "flops", "attention_flops": "flops", "forward_flops": "flops",
         "train_step_flops": "flops"}

__all__ = ["main", *_LAZY]


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module(f"synth.bench.{_LAZY[name]}"), name)
  raise AttributeError(f"module 'synth.bench' has no attribute '{name}'")
