"""The paper's TFDS datasets as tasks, read by grain through tfds.data_source (ArrayRecord).

  lm1b                         lm        One Billion Word sentences (validation = its test split)
  c4                           lm        C4 (c4/en) documents, causal LM
  c4_span                      seq2seq   C4 documents with T5 span corruption (pre-training)
  wmt14/en-de, wmt14/de-en     seq2seq   WMT14 translation, either direction
  wmt14/en-fr, wmt14/fr-en     seq2seq
  cnn_dailymail                seq2seq   article -> highlights
  ag_news_subset               classification  title + description -> 4 topics
  imdb_reviews                 classification  review -> neg/pos (validation = its test split)
  glue/*, super_glue/*         see synth.data.glue_tasks

A data source reads records by index, so grain can shard, shuffle and checkpoint without a
tf.data pipeline. Datasets must be prepared beforehand in ArrayRecord format; a missing one is a
one-line error naming the dataset, the data_dir and the command that prepares it.
"""
import functools
import os
from collections.abc import Callable, Sequence

import ml_collections
import numpy as np

from synth.data import span_corruption
from synth.data.registry import DataTask, register_task


class DatasetNotPreparedError(ValueError):
  """A TFDS dataset is not in the data_dir, or not in a random-access format."""


# Reading a prepared dataset needs no TensorFlow; preparing one (`tfds build`) and
# tfds.testing.mock_data do, and so may a dataset whose features decode only through TensorFlow.
TFDS_INSTALL = "pip install 'synth[tfds]'"


class TensorFlowNeededError(ValueError):
  """A TFDS step that needs TensorFlow, on an install without it."""


def data_dir_of(config_dir: str) -> str:
  """The TFDS data_dir in use: data.data_dir, else $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
  return config_dir or os.environ.get("TFDS_DATA_DIR") or os.path.expanduser(
      "~/tensorflow_datasets")


def open_split(name: str, split: str, data_dir: str):
  """tfds.data_source for one split, never downloading; a one-line error if it is missing."""
  import tensorflow_datasets as tfds  # lazily: importing it takes seconds
  where = data_dir_of(data_dir)
  try:
    return tfds.data_source(name, split=split, data_dir=where, download=False)
  except (NotImplementedError, AssertionError, FileNotFoundError):
    # tfds' own messages span many lines and suggest reading the wrong format.
    raise DatasetNotPreparedError(
        f"TFDS dataset '{name}' is not prepared in ArrayRecord format in data_dir {where}; "
        f"prepare it with: tfds build {name} --data_dir={where} --file_format=array_record"
    ) from None
  except ImportError as e:
    if "tensorflow" not in str(e):
      raise
    raise TensorFlowNeededError(
        f"reading TFDS dataset '{name}' needs TensorFlow, which is not installed: "
        f"{TFDS_INSTALL}") from None
  except ValueError as e:
    if "split" not in str(e).lower():
      raise
    raise ValueError(f"TFDS dataset '{name}' has no split '{split}' "
                     f"({str(e).strip().splitlines()[0]})") from None


def text(value) -> str:
  """A TFDS text feature as str (data sources give bytes; mock data gives str)."""
  if isinstance(value, bytes):
    return value.decode("utf-8")
  if isinstance(value, np.ndarray) and value.ndim == 0:
    return text(value.item())
  return str(value)


class TfdsExamples(Sequence):
  """A TFDS split seen as task examples: record i formatted on access, nothing read ahead."""

  def __init__(self, records, fmt: Callable[[dict], dict]):
    self._records, self._fmt = records, fmt

  def __len__(self) -> int:
    return len(self._records)

  def __getitem__(self, i: int) -> dict:
    return self._fmt(self._records[i])


def tfds_source(tfds_name: str, fmt: Callable[[dict], dict],
                splits: dict[str, str] | None = None):
  """A task source reading `tfds_name` from data.data_dir; `splits` renames ours to the
  dataset's (e.g. a dataset without a validation split evaluates on its test split); other
  split names pass through."""
  splits = dict(splits or {})

  def source(split: str, config: ml_collections.ConfigDict):
    return TfdsExamples(open_split(tfds_name, splits.get(split, split), config.data.data_dir),
                        fmt)
  return source


def tfds_task(name: str, tfds_name: str, kind: str, fmt: Callable[[dict], dict], *,
              splits: dict[str, str] | None = None, **task_fields) -> DataTask:
  """Registers a task reading `tfds_name` (see tfds_source)."""
  return register_task(DataTask(name=name, kind=kind, source=tfds_source(tfds_name, fmt, splits),
                            **task_fields))


# ------------------------------------------------------------------------------------------------
# Language modelling and span corruption
# ------------------------------------------------------------------------------------------------
def _text_only(record: dict) -> dict:
  return {"text": text(record["text"])}


tfds_task("lm1b", "lm1b", "lm", _text_only, splits={"validation": "test"},
          description="One Billion Word benchmark sentences")
tfds_task("c4", "c4/en", "lm", _text_only, description="C4 English web documents, causal LM")


@functools.lru_cache(maxsize=None)
def _chunk_lengths(input_len: int, density: float, mean_span: float) -> tuple[int, int]:
  return span_corruption.chunk_lengths(input_len, density, mean_span)


def _span_settings(config) -> tuple[int, int, float, float]:
  """(chunk length, targets length, density, mean span) of span corruption under `config`."""
  d = config.data
  input_len = int(d.max_input_len or d.seq_len)
  density, mean_span = float(d.noise_density), float(d.mean_noise_span_length)
  return (*_chunk_lengths(input_len, density, mean_span), density, mean_span)


def _check_span_corruption(config) -> None:
  d = config.data
  if not 0 < d.noise_density < 1 or d.mean_noise_span_length < 1:
    raise ValueError(f"span corruption needs 0 < data.noise_density < 1 and "
                     f"data.mean_noise_span_length >= 1, got {d.noise_density} and "
                     f"{d.mean_noise_span_length}")
  chunk_len, targets_len, density, mean_span = _span_settings(config)
  spans = span_corruption.num_spans(chunk_len, density, mean_span)
  if spans > d.extra_ids:
    raise ValueError(f"span corruption of {chunk_len}-token chunks needs {spans} sentinel ids "
                     f"but data.extra_ids is {d.extra_ids} (T5 uses 100)")
  target_len = int(d.max_target_len or d.seq_len)
  if target_len < targets_len:
    raise ValueError(f"span corruption with data.max_input_len={d.max_input_len or d.seq_len} "
                     f"makes {targets_len} target tokens but data.max_target_len is {target_len}")


def _span_pairs(ids: np.ndarray, config) -> list[dict]:
  chunk_len, _, density, mean_span = _span_settings(config)
  return span_corruption.corrupt_document(
      ids, seed=int(config.seed), vocab_size=int(config.model.vocab_size), chunk_len=chunk_len,
      noise_density=density, mean_span=mean_span)


tfds_task("c4_span", "c4/en", "seq2seq", _text_only, pairs_from_text=_span_pairs,
          check=_check_span_corruption, description="C4 with T5 span corruption")


# ------------------------------------------------------------------------------------------------
# Translation and summarisation
# ------------------------------------------------------------------------------------------------
def translation(source_lang: str, target_lang: str) -> Callable[[dict], dict]:
  """Formats a TFDS translation record (one text feature per language) as one direction."""
  def fmt(record: dict) -> dict:
    return {"inputs": text(record[source_lang]), "targets": text(record[target_lang])}
  return fmt


for _pair in ("de-en", "fr-en"):
  _other = _pair.split("-")[0]
  for _src, _tgt in (("en", _other), (_other, "en")):
    tfds_task(f"wmt14/{_src}-{_tgt}", f"wmt14_translate/{_pair}", "seq2seq",
              translation(_src, _tgt), description=f"WMT14 {_src} -> {_tgt} translation")

tfds_task("cnn_dailymail", "cnn_dailymail", "seq2seq",
          lambda r: {"inputs": text(r["article"]), "targets": text(r["highlights"])},
          description="CNN/DailyMail article -> highlights summarisation")


# ------------------------------------------------------------------------------------------------
# Document classification
# ------------------------------------------------------------------------------------------------
def _label(record: dict) -> int:
  return int(np.asarray(record["label"]))


tfds_task("ag_news_subset", "ag_news_subset", "classification",
          lambda r: {"text": f"{text(r['title'])} {text(r['description'])}", "label": _label(r)},
          splits={"validation": "test"}, label_names=("World", "Sports", "Business", "Sci/Tech"),
          description="AG News topic classification")
tfds_task("imdb_reviews", "imdb_reviews", "classification",
          lambda r: {"text": text(r["text"]), "label": _label(r)},
          splits={"validation": "test"}, label_names=("negative", "positive"),
          description="IMDb movie review sentiment")
