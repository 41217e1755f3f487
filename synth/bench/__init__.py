"""`synth bench`: step time, tokens/s, MFU, memory and decoding speed of every attention variant.

    from synth.bench import run_bench
    report = run_bench(["vanilla", "random"], seq_lens=[256, 1024], mode="train", json_path="b.json")

or from the shell: `python -m synth.bench --variants=all --seq-lens=256,1024 --mode=train`.
See run.py (what is timed and how), flops.py (the FLOP formulas) and measure.py (peak, memory).
"""
from synth.bench.cli import main
from synth.bench.flops import ModelShape, attention_flops, forward_flops, train_step_flops
from synth.bench.run import MODES, format_table, run_bench

__all__ = ["MODES", "ModelShape", "attention_flops", "format_table", "forward_flops", "main",
           "run_bench", "train_step_flops"]
