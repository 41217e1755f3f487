"""A run's small text files (config.json, metrics.jsonl, eval_results.jsonl, samples) on any
filesystem etils.epath supports: local disk, or gs:// where Cloud TPU users keep workdirs; and
the records in them that the trainer and `synth eval` both write (the config's fingerprint,
result rows, decoded samples).

Local files keep the usual idioms (tmp file + os.replace, append mode). Cloud objects can be
neither renamed atomically nor appended to, but a single object write is atomic, so a remote
write is one whole-object write.
"""
import datetime
import hashlib
import json
import os
from collections.abc import Iterable

import jax
import ml_collections
from etils import epath


def is_remote(path) -> bool:
  """gs://, s3:// and the like: paths that only epath (through fsspec) can read."""
  return "://" in str(path)


def write_text_atomic(path, text: str) -> None:
  """Writes `path` so a reader never sees half of it: locally a tmp file renamed over it; on
  cloud storage a plain write (atomic per object there, and renames are copies)."""
  if is_remote(path):
    epath.Path(path).write_text(text)
    return
  tmp = os.fspath(path) + ".tmp"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


def append_bytes(path, data: bytes, *, own_line: bool = False) -> None:
  """Appends `data` to `path`, creating it if needed. Cloud objects cannot be appended to, so
  remotely this reads the object (if any) and rewrites it whole: fine for a run's small files,
  but two processes appending to the same remote file at once can lose data (one writer per
  file, as here). own_line: if the file ends mid-line (a writer killed while writing it), start
  `data` on a new line rather than extending the torn one."""
  if not is_remote(path):
    with open(path, "a+b") as f:
      if own_line and f.tell() > 0:  # append mode starts at the end
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
          data = b"\n" + data
      f.write(data)
    return
  path = epath.Path(path)
  old = path.read_bytes() if path.exists() else b""
  if own_line and old and not old.endswith(b"\n"):
    old += b"\n"
  path.write_bytes(old + data)


def append_jsonl(path, rows: Iterable[dict]) -> None:
  """Appends one JSON line per row; a torn last line (read_jsonl drops it) never swallows the
  first new row."""
  append_bytes(path, "".join(json.dumps(row) + "\n" for row in rows).encode(), own_line=True)


def read_jsonl(path) -> list[dict]:
  """The JSON objects of a .jsonl file; [] if it does not exist. A torn line (a writer killed
  mid-line) is skipped rather than failing the whole read."""
  path = epath.Path(path)
  if not path.exists():
    return []
  rows = []
  for line in path.read_text().splitlines():
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError:
      continue
  return rows


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config a run wrote to <workdir>/config.json."""
  path = epath.Path(workdir) / "config.json"
  if not path.exists():
    raise FileNotFoundError(f"{path} does not exist: is {workdir} a synth workdir?")
  return ml_collections.ConfigDict(json.loads(path.read_text()))


def config_hash(config) -> str:
  """A short, stable fingerprint of a config (which settings produced a result)."""
  text = json.dumps(json.loads(config.to_json_best_effort()), sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:12]


def write_samples(workdir: str, step: int, split: str, samples: list[dict], writer=None):
  """Samples as a text file under <workdir>/samples/ and as TensorBoard text."""
  if not samples or jax.process_index() != 0:
    return
  blocks = [f"source: {s['source']}\nreference: {s['reference']}\nprediction: {s['prediction']}"
            for s in samples]
  directory = epath.Path(workdir) / "samples"
  directory.mkdir(parents=True, exist_ok=True)
  write_text_atomic(directory / f"{split}_step{step}.txt", "\n\n".join(blocks) + "\n")
  if writer is not None:
    writer.write_texts(step, {f"{split}/samples": "\n\n".join(
        "    " + b.replace("\n", "\n    ") for b in blocks)})


def result_row(step: int, split: str, metrics: dict, fingerprint: str,
               source: str = "eval") -> dict:
  """One eval_results.jsonl row: what `synth eval` (source 'eval') and the trainer's final
  evaluation (source 'train') record. A table that scores a run's best checkpoint reads only
  'eval' rows: the trainer's row is for its last step, whichever is best."""
  return {"step": int(step), "split": split, **metrics, "config_hash": fingerprint,
          "source": source,
          "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def append_result(workdir: str, row: dict):
  """Appends one result row to <workdir>/eval_results.jsonl (process 0 writes for all)."""
  if jax.process_index() == 0:
    append_jsonl(epath.Path(workdir) / "eval_results.jsonl", [row])
