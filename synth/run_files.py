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
