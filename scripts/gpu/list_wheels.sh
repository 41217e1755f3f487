#!/usr/bin/env bash
# Writes scripts/gpu/wheels.txt: exactly what `pip install .` adds on a host whose image already
# has JAX with CUDA, flax, optax, orbax-checkpoint, sentencepiece, sacrebleu, tensorboard, etils
# and absl (a typical JAX GPU image). It builds such an environment in a scratch venv (CPU JAX of
# the same pins: the pure-Python dependency tree is the same), asks pip what `pip install .`
# would add, and writes those packages at the versions requirements-lock.txt verified.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=$(mktemp -d)/venv
python3 -m venv "$venv"
image=(jax flax optax orbax-checkpoint sentencepiece sacrebleu tensorboard etils absl-py)
pins=()
for name in "${image[@]}"; do pins+=("$(grep -i "^${name}==" requirements-lock.txt)"); done
"$venv/bin/pip" install -q "${pins[@]}"
"$venv/bin/pip" install -q --dry-run --report "$venv/report.json" .
"$venv/bin/python" - "$venv/report.json" requirements-lock.txt > scripts/gpu/wheels.txt <<'PY'
import json, re, sys
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
locked = dict(line.strip().split("==") for line in open(sys.argv[2]) if "==" in line)
locked = {norm(k): v for k, v in locked.items()}
report = json.load(open(sys.argv[1]))
print("# What `pip install .` adds to a JAX GPU image (scripts/gpu/list_wheels.sh wrote this).")
for item in sorted(report["install"], key=lambda i: norm(i["metadata"]["name"])):
  name = item["metadata"]["name"]
  if name != "synth":
    print(f"{name}=={locked.get(norm(name), item['metadata']['version'])}")
PY
rm -rf "$(dirname "$venv")"
echo "wrote scripts/gpu/wheels.txt ($(grep -vc '^#' scripts/gpu/wheels.txt) packages)"
