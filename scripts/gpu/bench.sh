#!/usr/bin/env bash
# The fair-baseline benchmark on one GPU: every variant against the fastest vanilla of einsum,
# XLA and cuDNN flash attention, in float32 and bfloat16, at 1024 and 2048, in the causal LM
# (Random-family P V dense and in causal blocks) and in the bidirectional encoder; then compile
# times with and without model.scan_layers. Each command writes one JSON under $OUT.
#
#   bash scripts/gpu/bench.sh          # all three parts
#   bash scripts/gpu/bench.sh causal   # one part: causal, encoder or compile
#
# Never run yet (no GPU was lent while it was written); the CPU runs of the same commands are in
# docs/bench/README.md. Expect each part to be dominated by compiling (about 20 cases each).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/synth_gpu_bench}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
BENCH=("$PY" -m synth.bench --repeats=5 --warmup=2 --impls=einsum,xla,cudnn
       --dtypes=float32,bfloat16 --seq_lens=1024,2048)
part=${1:-all}
if [ "$part" = all ] || [ "$part" = causal ]; then
  "${BENCH[@]}" --kind=decoder --variants=all --causal_blocks=0,-1 \
    --json="$OUT/gpu_train_causal.json"
fi
if [ "$part" = all ] || [ "$part" = encoder ]; then
  "${BENCH[@]}" --kind=encoder_classifier \
    --variants=vanilla,dense,random,fixed_random,factorized_dense,factorized_random,linformer \
    --json="$OUT/gpu_train_encoder.json"
fi
if [ "$part" = all ] || [ "$part" = compile ]; then
  "$PY" -m synth.bench --variants=random --seq_lens=256 --compile_layers=6,12,24 \
    --json="$OUT/gpu_compile_scan.json"
fi
echo "== done: $OUT"
