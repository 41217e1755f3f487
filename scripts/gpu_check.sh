#!/usr/bin/env bash
# One-shot GPU check on a machine whose image has CUDA JAX, flax, optax and orbax but not the
# pure-Python extras synth needs: those travel as wheels in .whl/ (see the device notes).
set -u
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -c "import jax, flax, optax, orbax.checkpoint as o; print(jax.__version__, flax.__version__, optax.__version__, jax.devices())"
nvidia-smi --query-gpu=name,memory.total --format=csv
echo "== bench train"
timeout 150 python3 -m synth.bench --variants=vanilla,random,factorized_random,dense,random+vanilla \
  --seq-lens=256,1024,2048 --mode=train --repeats=3 --json "$OUT/bench_train.json"
echo "== bench decode"
timeout 50 python3 -m synth.bench --variants=vanilla,random,dense --seq-lens=512 --mode=decode \
  --json "$OUT/bench_decode.json"
echo "== main job (100 steps)"
timeout 80 python3 -m synth.main train --config=configs/lm_python_docs.py --workdir=/tmp/gpu_run \
  --config.train.num_steps=100 --config.train.eval_every=100
cp /tmp/gpu_run/metrics.jsonl "$OUT/gpu_metrics.jsonl" 2>/dev/null
true
