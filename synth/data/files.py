"""Local files as a task: data.source = 'files'.

data.train_files and data.eval_files are comma-separated glob patterns (the validation split is
eval_files); files are read in pattern order, each pattern's matches sorted. The model decides
what the files hold:

  decoder             LM text: file_format 'text' (one example per line, or per blank-line
                      separated paragraph with data.text_unit = 'paragraph'), or the
                      data.text_field column/key of 'tsv'/'jsonl' files
  encoder_decoder     data.input_field -> data.target_field ('tsv' or 'jsonl')
  encoder_classifier  data.text_field -> data.label_field ('tsv' or 'jsonl'); labels are ids
                      0..model.num_classes-1, names listed in data.label_names, or floats when
                      model.num_classes is 1 (regression)

A TSV file starts with a header line naming its columns; values cannot hold tabs or newlines.
A JSONL file holds one JSON object per line. Blank lines are skipped. Anything unreadable (no
matching file, bad UTF-8, a wrong column count, bad JSON, a missing field, an unknown label) is
a ValueError naming the file and line, raised when the split is opened, before training.
"""
import glob
import json
import os

import ml_collections

from synth import kinds
from synth.data.registry import DataTask, register_task

FORMATS = ("text", "tsv", "jsonl")
TEXT_UNITS = ("line", "paragraph")
_SPLIT_FIELDS = {"train": "train_files", "validation": "eval_files"}


def kind_of(config: ml_collections.ConfigDict) -> str:
  """The task kind the model asks of the files."""
  return kinds.model_kind(config.model.kind).task_kind_of_files(config)


def file_paths(patterns: str, what: str) -> list[str]:
  """Every file matching the comma-separated glob `patterns`, in order, each once."""
  if not patterns.strip():
    raise ValueError(f"data.source='files' needs data.{what} (comma-separated glob patterns)")
  paths = []
  for pattern in (p.strip() for p in patterns.split(",") if p.strip()):
    matches = sorted(glob.glob(os.path.expanduser(pattern)))
    if not matches:
      raise ValueError(f"data.{what}: no such file: {pattern}" if not glob.has_magic(pattern)
                       else f"data.{what}: no file matches {pattern}")
    paths += [m for m in matches if m not in paths]
  return paths


def _lines(path: str):
  """(line number, text without the newline) of every line of a UTF-8 file."""
  with open(path, "rb") as f:
    for number, raw in enumerate(f, 1):
      try:
        yield number, raw.decode("utf-8").rstrip("\r\n")
      except UnicodeDecodeError as e:
        raise ValueError(f"{path}:{number}: not valid UTF-8 ({e.reason} at byte {e.start})") \
            from None


def _text_examples(path: str, unit: str) -> list[dict]:
  """LM texts of a plain text file: each non-blank line, or each paragraph."""
  if unit == "line":
    return [{"text": line} for _, line in _lines(path) if line.strip()]
  paragraphs, current = [], []
  for _, line in _lines(path):
    if line.strip():
      current.append(line)
    elif current:
      paragraphs.append({"text": "\n".join(current)})
      current = []
  if current:
    paragraphs.append({"text": "\n".join(current)})
  return paragraphs


def _tsv_records(path: str, fields: tuple[str, ...]):
  """(line number, {field: value}) of every row of a TSV file with a header line."""
  lines = _lines(path)
  header = next(((n, line) for n, line in lines if line.strip()), None)
  if header is None:
    return
  columns = header[1].split("\t")
  for field in fields:
    if field not in columns:
      raise ValueError(f"{path}:{header[0]}: the header has no column '{field}' "
                       f"(columns: {', '.join(columns)})")
  for number, line in lines:
    if not line.strip():
      continue
    values = line.split("\t")
    if len(values) != len(columns):
      raise ValueError(f"{path}:{number}: expected {len(columns)} tab-separated columns "
                       f"({', '.join(columns)}), got {len(values)}")
    yield number, dict(zip(columns, values))


def _jsonl_records(path: str, fields: tuple[str, ...]):
  """(line number, object) of every line of a JSONL file, each with `fields`."""
  for number, line in _lines(path):
    if not line.strip():
      continue
    try:
      record = json.loads(line)
    except json.JSONDecodeError as e:
      raise ValueError(f"{path}:{number}: invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(record, dict):
      raise ValueError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
    for field in fields:
      if field not in record:
        raise ValueError(f"{path}:{number}: no field '{field}' (fields: {', '.join(record)})")
    yield number, record


def _string(value, where: str, field: str) -> str:
  if not isinstance(value, str):
    raise ValueError(f"{where}: field '{field}' is not a string")
  return value


class _Labels:
  """Reads a label as a class id (an id or a name in data.label_names) or a float."""

  def __init__(self, config: ml_collections.ConfigDict, kind: str):
    self.kind, self.names = kind, tuple(config.data.label_names)
    self.num_classes = int(config.model.num_classes)

  def __call__(self, value, where: str):
    if self.kind == "regression":
      try:
        return float(value)
      except (TypeError, ValueError):
        raise ValueError(f"{where}: label {value!r} is not a number") from None
    if self.names:
      if str(value) not in self.names:
        raise ValueError(f"{where}: label {value!r} is not one of data.label_names "
                         f"({', '.join(self.names)})")
      return self.names.index(str(value))
    try:
      label = int(value)
    except (TypeError, ValueError):
      label = None
    if label is None or isinstance(value, float) or not 0 <= label < self.num_classes:
      raise ValueError(f"{where}: label {value!r} is not a class id 0..{self.num_classes - 1} "
                       "(set data.label_names if the labels are names)")
    return label


def read_examples(paths: list[str], config: ml_collections.ConfigDict) -> list[dict]:
  """The examples of the files, as the task kind of `config` wants them."""
  d, kind = config.data, kind_of(config)
  if d.file_format not in FORMATS:
    raise ValueError(f"data.file_format must be one of {', '.join(FORMATS)}, got "
                     f"'{d.file_format}'")
  if d.file_format == "text":
    if kind != "lm":
      raise ValueError(f"data.file_format='text' holds LM text; a {config.model.kind} model "
                       "reads 'tsv' or 'jsonl' files")
    if d.text_unit not in TEXT_UNITS:
      raise ValueError(f"data.text_unit must be one of {', '.join(TEXT_UNITS)}, got "
                       f"'{d.text_unit}'")
    return [ex for path in paths for ex in _text_examples(path, d.text_unit)]
  fields = {"lm": (d.text_field,), "seq2seq": (d.input_field, d.target_field)}.get(
      kind, (d.text_field, d.label_field))
  records = _tsv_records if d.file_format == "tsv" else _jsonl_records
  labels = _Labels(config, kind)
  examples = []
  for path in paths:
    for number, record in records(path, tuple(fields)):
      where = f"{path}:{number}"
      if kind == "lm":
        examples.append({"text": _string(record[d.text_field], where, d.text_field)})
      elif kind == "seq2seq":
        examples.append({"inputs": _string(record[d.input_field], where, d.input_field),
                         "targets": _string(record[d.target_field], where, d.target_field)})
      else:
        examples.append({"text": _string(record[d.text_field], where, d.text_field),
                         "label": labels(record[d.label_field], where)})
  return examples


def _source(split: str, config: ml_collections.ConfigDict) -> list[dict]:
  if split not in _SPLIT_FIELDS:
    raise ValueError(f"data.source='files' has the splits train (data.train_files) and "
                     f"validation (data.eval_files), not '{split}'")
  field = _SPLIT_FIELDS[split]
  examples = read_examples(file_paths(config.data[field], field), config)
  if not examples:
    raise ValueError(f"data.{field} ({config.data[field]}) holds no examples")
  return examples


register_task(DataTask(name="files", kind=kind_of, source=_source,
                   description="local text, TSV or JSONL files"))
