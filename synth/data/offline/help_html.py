"""Paragraph text of LibreOffice's packaged HTML help, keyed by the ids shared across languages.

Debian's libreoffice-help-<lang> packages ship the help as HTML pages generated from the same
.xhp sources for every language. Each translatable paragraph or heading keeps its source id
(`<p id="par_id3146957">`, `<h2 id="hd_id3143284">`) in every language, so the pair
(page path, paragraph id) aligns a page's English paragraph with its translation without any
sentence alignment heuristics.

Inline platform switches (`<span class="switchinline">`) hold alternative wordings of which a
browser shows one (e.g. "LibreOffice - Preferences" on macOS, "Tools - Options" elsewhere); we
keep the `default` alternative (the first one when there is none), so a paragraph reads as one
sentence instead of all alternatives run together.
"""
import os
import re
from html.parser import HTMLParser
from pathlib import Path

from synth.data.offline.fetch import FetchError

# Ids of translatable paragraphs/headings (par_id..., par_idN..., hd_id...); the page's other
# ids (bm_system, switch spans, ...) are navigation or debug markup.
_PARAGRAPH_ID = re.compile(r"^(?:par|hd)_")
_PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6"})
# Elements without an end tag: never pushed on the open-element stack.
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "param", "source", "track", "wbr"})
# Elements whose content is never prose.
_SKIPPED = frozenset({"script", "style", "noscript"})


class _Frame:
  """Text being collected: a paragraph, an inline switch, or one alternative of a switch."""

  def __init__(self, kind: str, ident: str = ""):
    self.kind, self.ident = kind, ident
    self.parts: list[str] = []
    self.options: list[tuple[str, str]] = []  # switch frames: (alternative id, text)

  def text(self) -> str:
    if self.kind != "switch":
      return "".join(self.parts)
    chosen = [t for ident, t in self.options if ident.startswith("default")]
    return chosen[0] if chosen else (self.options[0][1] if self.options else "")


class _PageParser(HTMLParser):
  """Collects (paragraph id, raw text) in document order from one help page."""

  def __init__(self):
    super().__init__(convert_charrefs=True)
    self.paragraphs: list[tuple[str, str]] = []
    self._open: list[tuple[str, _Frame | None]] = []  # (tag, frame it opened)
    self._frames: list[_Frame] = []
    self._skip = 0

  def handle_starttag(self, tag, attrs):
    if tag in _VOID:
      if tag == "br" and self._frames:
        self._append(" ")
      return
    attrs = dict(attrs)
    ident, classes = attrs.get("id") or "", (attrs.get("class") or "").split()
    frame = None
    if tag in _SKIPPED:
      self._skip += 1
    elif not self._frames:
      if tag in _PARAGRAPH_TAGS and _PARAGRAPH_ID.match(ident):
        frame = _Frame("paragraph", ident)
    elif tag == "span" and "switchinline" in classes:
      frame = _Frame("switch")
    elif tag == "span" and self._frames[-1].kind == "switch":
      frame = _Frame("option", ident)
    if frame is not None:
      self._frames.append(frame)
    self._open.append((tag, frame))

  def handle_endtag(self, tag):
    if tag in _VOID or all(t != tag for t, _ in self._open):
      return  # a stray end tag: ignore it rather than unwind unrelated elements
    while self._open:
      open_tag, frame = self._open.pop()
      if open_tag in _SKIPPED:
        self._skip -= 1
      if frame is not None:
        self._close(frame)
      if open_tag == tag:
        break

  def handle_data(self, data):
    if self._frames and not self._skip:
      self._append(data)

  def _append(self, text: str) -> None:
    top = self._frames[-1]
    if top.kind != "switch":  # whitespace between a switch's alternatives is not text
      top.parts.append(text)

  def _close(self, frame: _Frame) -> None:
    self._frames.pop()
    if frame.kind == "paragraph":
      self.paragraphs.append((frame.ident, frame.text()))
    elif frame.kind == "option":
      self._frames[-1].options.append((frame.ident, frame.text()))
    else:  # a resolved switch is plain text of its enclosing frame
      self._append(frame.text())


def page_paragraphs(html: str) -> list[tuple[str, str]]:
  """(paragraph id, raw text) of every translatable paragraph/heading of a page, in order.

  Text is returned as it appears (entities decoded, tags removed, whitespace untouched); an id
  repeated in one page (an embedded section shown twice) is returned once per occurrence.
  """
  parser = _PageParser()
  parser.feed(html)
  parser.close()
  return parser.paragraphs


def help_dir(unpacked: str | os.PathLike, lang: str) -> Path:
  """The help tree of `lang` (e.g. 'en-US', 'de') inside an unpacked help package."""
  path = Path(unpacked) / "usr" / "share" / "libreoffice" / "help" / lang
  if not (path / "text").is_dir():
    raise FetchError(f"no LibreOffice help pages at {path}/text; the package layout has "
                            "changed or the package is not a help package")
  return path


def help_pages(root: str | os.PathLike) -> list[str]:
  """Posix paths, relative to `root`/text, of every help page, sorted (the build order)."""
  text = Path(root) / "text"
  return sorted(p.relative_to(text).as_posix() for p in text.rglob("*.html"))


def read_page(root: str | os.PathLike, page: str) -> list[tuple[str, str]]:
  """page_paragraphs of one page of a help tree (missing page = no paragraphs)."""
  path = Path(root) / "text" / page
  if not path.is_file():
    return []
  return page_paragraphs(path.read_text(encoding="utf-8", errors="replace"))
