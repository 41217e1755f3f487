"""A run's small text files (config.json, metrics.jsonl, eval_results.jsonl, samples) on any
filesystem etils.epath supports: local disk, or gs:// where Cloud TPU users keep workdirs.

Local files keep the usual idioms (tmp file + os.replace, append mode). Cloud objects can be
neither renamed atomically nor appended to, but a single object write is atomic, so a remote
write is one whole-object write.
"""
import json
import os
from collections.abc import Iterable

from etils import epath


def is_remote(path) -> bool:
  """gs://, s3:// and the like: paths that only epath (tf.io.gfile) can read."""
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


def append_jsonl(path, rows: Iterable[dict]) -> None:
  """Appends one JSON line per row. Cloud objects cannot be appended to, so remotely this reads
  the object (if any) and rewrites it whole: fine for these small files, but two processes
  appending to the same remote file at once can lose a row (one writer per file, as here)."""
  lines = "".join(json.dumps(row) + "\n" for row in rows)
  if not is_remote(path):
    with open(path, "a+b") as f:
      if f.tell() > 0:  # append mode starts at the end
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
          lines = "\n" + lines  # a torn last line (read_jsonl drops it) must not swallow this row
      f.write(lines.encode())
    return
  path = epath.Path(path)
  old = path.read_text() if path.exists() else ""
  if old and not old.endswith("\n"):
    old += "\n"  # keep a torn last line (read_jsonl drops it) from swallowing the first new row
  path.write_text(old + lines)


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
