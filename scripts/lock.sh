#!/usr/bin/env bash
# Regenerates the lock files from pyproject.toml's ranges with uv (`pip install uv`):
#   requirements-lock.txt      the core install (`pip install -c requirements-lock.txt -e .`)
#   requirements-dev-lock.txt  the test install (`-e '.[dev]'`: + tensorflow-cpu and pytest),
#                              the core pins included unchanged
# Existing pins are kept where the ranges still allow them (uv reads its output file as
# preferences); pass --upgrade to move everything to the newest allowed versions. Verify a new
# lock by running the README's two set-up commands in fresh virtualenvs.
# The locks are for Python 3.11 on Linux x86_64, the set verified on the project's machines;
# other Pythons and platforms install from pyproject.toml's ranges.
set -euo pipefail
cd "$(dirname "$0")/.."
common=(--python-version 3.11 --python-platform x86_64-manylinux_2_28 --quiet "$@")
uv pip compile pyproject.toml "${common[@]}" -o requirements-lock.txt \
  --custom-compile-command "scripts/lock.sh"
uv pip compile pyproject.toml --extra dev "${common[@]}" -c requirements-lock.txt \
  -o requirements-dev-lock.txt --custom-compile-command "scripts/lock.sh"
