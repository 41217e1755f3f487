"""Deterministic train/validation/test splits and the JSONL files that hold them.

An example's split is a pure function of a stable key (a translation's source text, a snippet's
text), so every machine and every rebuild agrees, a duplicate can never straddle two splits,
and the English side of En->De and En->Fr falls in the same split for the same sentence.
"""
import hashlib
import json
import os
from pathlib import Path

SPLITS = ("train", "validation", "test")
# Per-mille bucket bounds: 90% train, 5% validation, 5% test.
_BOUNDS = ((900, "train"), (950, "validation"), (1000, "test"))


def split_of(key: str) -> str:
  """The split of the example whose stable key is `key`."""
  bucket = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % 1000
  return next(name for bound, name in _BOUNDS if bucket < bound)


def split_examples(examples, key: str) -> dict[str, list[dict]]:
  """Examples grouped by the split of example[key], keeping their order within each split."""
  splits = {name: [] for name in SPLITS}
  for example in examples:
    splits[split_of(example[key])].append(example)
  return splits


def sha256_file(path) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def write_jsonl(path, examples) -> str:
  """Writes one JSON object per line (atomically: temp file + rename); returns its sha256."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(path.name + ".tmp")
  with open(tmp, "w", encoding="utf-8") as f:
    for example in examples:
      f.write(json.dumps(example, ensure_ascii=False, sort_keys=True) + "\n")
  os.replace(tmp, path)
  return sha256_file(path)


def read_jsonl(path) -> list[dict]:
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f if line.strip()]
