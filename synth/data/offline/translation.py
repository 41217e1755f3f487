"""Aligned translation pairs from two languages' LibreOffice help trees.

A pair is the same (page, paragraph id) in both trees: the help is generated from one set of
sources, so ids are the alignment and no heuristic is needed. Pairs are cleaned, filtered
(synth.data.offline.cleaning.pair_problem) and deduplicated by their source text, the first
occurrence in sorted page order winning: the same English paragraph is embedded in many pages,
and keeping it once also keeps it out of more than one split.
"""
import collections
from collections.abc import Iterator

from tqdm import tqdm

from synth.data.offline.cleaning import clean_text, pair_problem
from synth.data.offline.help_html import help_pages, read_page

# A help tree read into memory: page path -> [(paragraph id, raw text)] in document order.
HelpTree = dict[str, list[tuple[str, str]]]
# Paragraphs longer than this (characters, either side) are mostly tables and code listings.
MAX_CHARS = 512
# A side more than this many times longer than the other is a stale or free translation.
MAX_RATIO = 3.0


def read_tree(root, *, progress: bool = False, desc: str = "") -> HelpTree:
  """Every page's paragraphs of the help tree at `root` (a help_html.help_dir)."""
  pages = help_pages(root)
  return {page: read_page(root, page)
          for page in tqdm(pages, desc=desc or f"parse {root}", unit="page", disable=not progress)}


def _by_id(paragraphs: list[tuple[str, str]]) -> dict[str, list[str]]:
  grouped = collections.defaultdict(list)
  for ident, text in paragraphs:
    grouped[ident].append(text)
  return grouped


def aligned_paragraphs(source: HelpTree, target: HelpTree,
                       stats: collections.Counter | None = None) -> Iterator[tuple[str, str, str]]:
  """(stable id, source text, target text) for each paragraph present in both trees.

  The stable id is 'page#paragraph_id', with '@k' appended to the k-th (k >= 2) occurrence of
  an id repeated within a page. An id missing from the target page, or repeated a different
  number of times there, is counted as 'unaligned' in `stats` and skipped.
  """
  stats = collections.Counter() if stats is None else stats
  for page in sorted(source):
    targets = _by_id(target.get(page, []))
    for ident, texts in _by_id(source[page]).items():
      stats["paragraphs"] += len(texts)
      if len(targets.get(ident, ())) != len(texts):
        stats["unaligned"] += len(texts)
        continue
      for k, (src, tgt) in enumerate(zip(texts, targets[ident]), start=1):
        yield f"{page}#{ident}" + (f"@{k}" if k > 1 else ""), src, tgt


def translation_examples(aligned, *, max_chars: int = MAX_CHARS, max_ratio: float = MAX_RATIO,
                         stats: collections.Counter | None = None) -> list[dict]:
  """Cleaned, filtered, deduplicated {'id', 'inputs', 'targets'} examples, in input order.

  `stats` (if given) counts every aligned pair under 'aligned' and each dropped one under
  'dropped_<reason>' ('duplicate' for a source text already kept); 'kept' is the result size.
  """
  stats = collections.Counter() if stats is None else stats
  seen, examples = set(), []
  for ident, src, tgt in aligned:
    stats["aligned"] += 1
    src, tgt = clean_text(src), clean_text(tgt)
    problem = pair_problem(src, tgt, max_chars=max_chars, max_ratio=max_ratio)
    if problem is None and src in seen:
      problem = "duplicate"
    if problem is not None:
      stats[f"dropped_{problem}"] += 1
      continue
    seen.add(src)
    examples.append({"id": ident, "inputs": src, "targets": tgt})
  stats["kept"] = len(examples)
  return examples
