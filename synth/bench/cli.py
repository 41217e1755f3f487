"""The command line of `synth bench` (also `python -m synth.bench`).

It parses its own arguments (argparse) rather than absl flags, so its flag names can never clash
with `synth train`'s and `synth bench --help` lists only what the benchmark takes. Errors are one
`synth: error: ...` line and exit status 2, like the rest of the `synth` command.
"""
import argparse
import sys

from synth.bench.flops import BENCH_KINDS

DEFAULT_SEQ_LENS = "128,256,512,1024,2048"


class _Parser(argparse.ArgumentParser):
  def error(self, message):
    print(f"synth: error: bench: {message}", file=sys.stderr)
    sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
  p = _Parser(prog="synth bench", description=(
      "Times every attention variant side by side in a causal decoder LM or a bidirectional "
      "encoder (interleaved repetitions, "
      "median): train step time, tokens/s, MFU against the measured matmul peak of the compute "
      "dtype, the speed ratio to the fastest vanilla beside its FLOP ceiling, memory and "
      "compile time; or, with --mode=decode, cached decoding tokens/s and cache bytes; or, with "
      "--compile_layers, compile times with and without model.scan_layers."))
  p.add_argument("--variants", default="all",
                 help="'all' or comma-separated variants, mixtures included (random+vanilla)")
  p.add_argument("--seq_lens", default=DEFAULT_SEQ_LENS, help="comma-separated lengths")
  p.add_argument("--mode", default="train", choices=("train", "decode"))
  p.add_argument("--kind", default="decoder", choices=BENCH_KINDS,
                 help="the model: decoder (a causal LM) or encoder_classifier (a bidirectional "
                      "encoder with a 2-class head, as in the paper's encoding tasks; train mode)")
  p.add_argument("--impls", default="einsum",
                 help="comma-separated model.attention_impl values for vanilla and vanilla "
                      "mixtures: einsum, xla, cudnn (GPU, bfloat16)")
  p.add_argument("--dtypes", default="float32",
                 help="comma-separated compute dtypes: float32, bfloat16 (parameters stay f32)")
  p.add_argument("--causal_blocks", default="-1",
                 help="comma-separated model.causal_block values, each timed for the "
                      "Random-family variants of the causal LM: 0 dense, -1 auto, or the block "
                      "size of their causal P V (e.g. 0,256 compares dense with blocks)")
  p.add_argument("--compile_layers", default=None, metavar="L1,L2,...",
                 help="instead of timing steps, compile the train step of the first variant at "
                      "the first length with each of these layer counts, with and without "
                      "model.scan_layers, and report the compile times")
  p.add_argument("--batch_size", type=int, default=None,
                 help="rows per step (default: 4096 tokens per train step on CPU, 32768 on "
                      "accelerators; 8 rows when decoding)")
  p.add_argument("--d_model", type=int, default=512)
  p.add_argument("--num_heads", type=int, default=8)
  p.add_argument("--d_ff", type=int, default=2048)
  p.add_argument("--num_layers", type=int, default=6)
  p.add_argument("--vocab_size", type=int, default=32000)
  p.add_argument("--factor_k", type=int, default=8, help="Factorized Random rank")
  p.add_argument("--dropout", type=float, default=0.0, help="dropout rate in train mode")
  p.add_argument("--repeats", type=int, default=5, help="timed repetitions (median reported)")
  p.add_argument("--warmup", type=int, default=2, help="untimed repetitions first")
  p.add_argument("--peak_size", type=int, default=None,
                 help="matmul side for the measured peak (default 2048 on CPU, 8192 else)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--json", default=None, metavar="OUT", help="write the report here as JSON")
  p.add_argument("--profile", default=None, metavar="DIR",
                 help="after each case's timed steps, trace 2 more with jax.profiler into "
                      "DIR/<mode>_<variant>_<seq_len> (view: xprof --logdir DIR, or Perfetto)")
  return p


def main(argv=None) -> int:
  """Runs the benchmark with command-line arguments (without the program or command name)."""
  args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
  from synth.bench.run import check_args, run_bench  # after parsing: --help needs no jax
  sizes = dict(kind=args.kind, d_model=args.d_model, num_heads=args.num_heads, d_ff=args.d_ff,
               num_layers=args.num_layers, vocab_size=args.vocab_size, factor_k=args.factor_k)
  options = dict(impls=args.impls, dtypes=args.dtypes, causal_blocks=args.causal_blocks)
  try:
    seq_lens = [int(n) for n in args.seq_lens.split(",") if n.strip()]
    check_args(args.variants, seq_lens, args.mode, args.batch_size, args.repeats, args.warmup,
               **options, **sizes)
    layers = ([int(n) for n in args.compile_layers.split(",") if n.strip()]
              if args.compile_layers is not None else None)
    if layers is not None and (not layers or min(layers) < 1):
      raise ValueError(f"--compile_layers needs positive layer counts, got {args.compile_layers}")
  except ValueError as e:
    print(f"synth: error: bench: {e}", file=sys.stderr)
    return 2
  if layers is not None:
    from synth.bench.run import run_compile_bench
    sizes.pop("num_layers")
    run_compile_bench(args.variants, seq_lens[0], layers, args.batch_size,
                      json_path=args.json, seed=args.seed, **options, **sizes)
    return 0
  run_bench(args.variants, seq_lens, args.mode, args.batch_size, dropout_rate=args.dropout,
            repeats=args.repeats, warmup=args.warmup, json_path=args.json,
            peak_size=args.peak_size, seed=args.seed, profile_dir=args.profile, **options,
            **sizes)
  return 0
