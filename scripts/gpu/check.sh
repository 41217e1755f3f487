#!/usr/bin/env bash
# The GPU check, for a host whose image has JAX with CUDA (and flax, optax, orbax-checkpoint, ...)
# and nothing else of synth's. It installs what synth adds (scripts/gpu/wheels.txt lists exactly
# that), then runs the README's main job end to end (train, resume, eval, decode, TensorBoard
# events) and a short side-by-side bench. Everything it measures goes under $OUT.
#
#   bash scripts/gpu/check.sh                  # installs from PyPI: pip install -e .
#   WHEELS=DIR bash scripts/gpu/check.sh       # offline host: the wheels of wheels.txt in DIR
#                                              # (pip download -r scripts/gpu/wheels.txt --no-deps
#                                              #  --python-version 3.12 --only-binary=:all: -d DIR)
# No TensorFlow is needed or installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/synth_gpu_check}
mkdir -p "$OUT"
if [ -n "${WHEELS:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/synth_site \
    "$WHEELS"/*.whl
  export PYTHONPATH=/tmp/synth_site:$PWD
else
  python3 -m pip install -q -e .
fi
python3 - <<'PY' | tee "$OUT/versions.txt"
import importlib.util
import flax, jax, optax
print("jax", jax.__version__, "flax", flax.__version__, "optax", optax.__version__)
print("devices", jax.devices())
print("tensorflow importable:", importlib.util.find_spec("tensorflow") is not None)
PY
nvidia-smi --query-gpu=name,memory.total --format=csv | tee -a "$OUT/versions.txt" || true

run=$OUT/main_job
echo "== main job: train (the README's command), then again (resumes), eval, decode"
/usr/bin/time -f "train wall %e s" -a -o "$OUT/times.txt" timeout 600 \
  python3 -m synth train --config=configs/lm_python_docs.py --workdir="$run" | tee "$OUT/train.log"
timeout 120 python3 -m synth train --config=configs/lm_python_docs.py --workdir="$run" \
  | tee "$OUT/resume.log"
timeout 300 python3 -m synth eval --workdir="$run" --checkpoint=all | tee "$OUT/eval.log"
printf 'def parse(text):\nclass Loader\n' \
  | timeout 120 python3 -m synth decode --workdir="$run" --input=- | tee "$OUT/decode.log"
ls "$run"/events.out.tfevents.* "$run"/eval/events.out.tfevents.* | tee "$OUT/events.txt"
cp "$run/metrics.jsonl" "$run/eval_results.jsonl" "$OUT/"

echo "== bench: train step, side by side"
timeout 300 python3 -m synth bench --variants=vanilla,random,factorized_random,dense,random+vanilla \
  --seq_lens=256,1024,2048 --mode=train --repeats=3 --json "$OUT/bench_train.json"
echo "== done: $OUT"
