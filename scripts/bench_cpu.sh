#!/usr/bin/env bash
# The CPU benchmark behind the README's numbers: the base LM's train step for every variant at
# n = 256 (with its MFU), Random and Factorized Random against vanilla at 1024 and 2048, and cached
# decoding. About an hour on a quiet 2-core machine; results land in ${OUT:-bench_results}/*.json.
#
# Timings on a shared machine are only as good as its quietest minutes: the benchmark interleaves
# variants so load hits them alike, but check `uptime` first and run when the load is low.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench_results}
mkdir -p "$OUT"
PY=${PYTHON:-python}
uptime
"$PY" -m synth.bench --mode=train --variants=all --seq_lens=256 --repeats=3 --warmup=1 \
  --json="$OUT/train_256.json"
"$PY" -m synth.bench --mode=train --variants=vanilla,random,factorized_random \
  --seq_lens=1024,2048 --json="$OUT/train_long.json"
"$PY" -m synth.bench --mode=decode --variants=vanilla,dense,random,factorized_random \
  --seq_lens=256,1024 --repeats=3 --warmup=1 --json="$OUT/decode.json"
