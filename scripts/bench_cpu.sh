#!/usr/bin/env bash
# The CPU benchmark behind the README's numbers: the base LM's train step for every variant at
# n = 256 (with its MFU); every variant at 1024 and 2048 against both vanilla implementations, in
# the causal LM and in the bidirectional encoder (Linformer too); Random-family causal blocks; and
# cached decoding. About two hours on a quiet 2-core machine; results land in
# ${OUT:-bench_results}/*.json.
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
"$PY" -m synth.bench --mode=train --kind=decoder --variants=all --impls=einsum,xla \
  --seq_lens=1024,2048 --repeats=3 --warmup=1 --json="$OUT/train_causal_long.json"
"$PY" -m synth.bench --mode=train --kind=encoder_classifier \
  --variants=vanilla,dense,random,fixed_random,factorized_dense,factorized_random,linformer \
  --impls=einsum,xla --seq_lens=1024,2048 --repeats=3 --warmup=1 \
  --json="$OUT/train_encoder_long.json"
"$PY" -m synth.bench --mode=train --kind=decoder \
  --variants=vanilla,random,fixed_random,factorized_random --causal_blocks=0,256 \
  --seq_lens=1024,2048 --repeats=3 --warmup=1 --json="$OUT/train_causal_blocks.json"
"$PY" -m synth.bench --mode=decode --variants=vanilla,dense,random,factorized_random \
  --seq_lens=256,1024 --repeats=3 --warmup=1 --json="$OUT/decode.json"
