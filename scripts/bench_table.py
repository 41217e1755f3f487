"""Markdown tables from `synth bench --json` reports, for the README.

    python scripts/bench_table.py bench_results/train_256.json bench_results/decode.json
"""
import json
import sys


def _ratio(x):
  return "-" if x is None else f"{x:.2f}x"


def train_table(report: dict) -> str:
  rows = ["| seq | variant | batch | step ms | tokens/s | MFU | vs vanilla |",
          "|---|---|---|---|---|---|---|"]
  for r in report["results"]:
    rows.append(f"| {r['seq_len']} | {r['variant']} | {r['batch_size']} | "
                f"{r['step_time_s'] * 1e3:.0f} | {r['tokens_per_s']:.0f} | {r['mfu'] * 100:.0f}% | "
                f"{_ratio(r['speedup_vs_vanilla'])} |")
  return "\n".join(rows)


def decode_table(report: dict) -> str:
  rows = ["| seq | variant | batch | tokens/s | vs vanilla | cache MiB | cache vs vanilla |",
          "|---|---|---|---|---|---|---|"]
  for r in report["results"]:
    rows.append(f"| {r['seq_len']} | {r['variant']} | {r['batch_size']} | "
                f"{r['tokens_per_s']:.0f} | {_ratio(r['speedup_vs_vanilla'])} | "
                f"{r['cache_bytes'] / 2 ** 20:.1f} | {_ratio(r['cache_ratio_vs_vanilla'])} |")
  return "\n".join(rows)


def main(paths):
  if not paths or any(p.startswith("-") for p in paths):
    print(__doc__.strip())
    sys.exit(0 if paths else 2)
  for path in paths:
    with open(path) as f:
      report = json.load(f)
    peak = report["peak"]
    print(f"{path}: {report['device']} ({report['platform']}), f32 matmul peak "
          f"{peak['flops_per_s'] / 1e9:.0f} GFLOP/s best, {peak['median_flops_per_s'] / 1e9:.0f} "
          f"median of {peak['runs']} runs\n")
    print(train_table(report) if report["mode"] == "train" else decode_table(report))
    print()


if __name__ == "__main__":
  main(sys.argv[1:])
