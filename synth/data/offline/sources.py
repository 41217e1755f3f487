"""Reading prepared offline corpora, checked against their manifest.

Nothing here fetches: a corpus that is missing, half-written or altered since it was prepared
is an error that says how to prepare it, never a silent download or a silently different set.
"""
import json

from synth.data.offline.corpora import (BUILDER_VERSION, MANIFEST, get_corpus, offline_root,
                                        prepare_hint)
from synth.data.offline.splits import SPLITS, read_jsonl, sha256_file


class NotPreparedError(ValueError):
  """An offline corpus has not been prepared (or is stale or damaged) under the data dir.

  A ValueError, like the TFDS tasks' DatasetNotPreparedError, so the CLI reports it in one line.
  """


def read_manifest(corpus_dir) -> dict | None:
  """The corpus manifest, or None when there is none (yet) or it cannot be parsed."""
  try:
    return json.loads((corpus_dir / MANIFEST).read_text(encoding="utf-8"))
  except (OSError, ValueError):
    return None


def manifest_problem(corpus_dir) -> str | None:
  """Why the prepared corpus at corpus_dir cannot be used as it is, or None if it can."""
  manifest = read_manifest(corpus_dir)
  if manifest is None:
    return "is not prepared"
  if manifest.get("builder_version") != BUILDER_VERSION:
    return (f"was prepared by builder version {manifest.get('builder_version')}, this synth "
            f"writes version {BUILDER_VERSION}")
  for split in SPLITS:
    entry = manifest.get("splits", {}).get(split, {})
    path = corpus_dir / entry.get("file", f"{split}.jsonl")
    if not path.is_file():
      return f"lacks {path.name}"
    if sha256_file(path) != entry.get("sha256"):
      return f"has a {path.name} whose sha256 differs from its manifest"
  return None


def load_examples(name: str, split: str, data_dir: str = "") -> list[dict]:
  """The examples of one split of a prepared corpus, each with only its kind's fields.

  Raises NotPreparedError (one line naming the command to run) when the corpus is not usable.
  """
  corpus = get_corpus(name)
  if split not in SPLITS:
    raise ValueError(f"unknown split '{split}' of offline corpus '{name}'; known: "
                     f"{', '.join(SPLITS)}")
  corpus_dir = offline_root(data_dir) / corpus.name
  problem = manifest_problem(corpus_dir)
  if problem:
    raise NotPreparedError(f"offline corpus '{name}' at {corpus_dir} {problem}; "
                           f"{prepare_hint(corpus.name, data_dir)}")
  return [{f: ex[f] for f in corpus.fields} for ex in read_jsonl(corpus_dir / f"{split}.jsonl")]
