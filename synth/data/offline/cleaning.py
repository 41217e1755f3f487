"""Text cleaning and pair filtering shared by the offline corpora.

Why these rules: the help pages are generated from XML with a few unexpanded product variables
and invisible formatting characters, and some paragraphs are left untranslated or are tables of
code; a translation corpus should hold real, reasonably sized sentence pairs, each once.
"""
import re
import unicodedata

# Product-name placeholders of the .xhp sources that survive in the generated pages
# ($[officename], %PRODUCTNAME and its misspellings in some pages).
_PRODUCT = re.compile(r"\$\[officename\]|%PR\w{0,4}UCTNAME|%PRDUCTNAME")
PRODUCT_NAME = "LibreOffice"
# Invisible characters that only steer layout: soft hyphen, zero-width space/joiners, marks.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"))
_LETTER = re.compile(r"[^\W\d_]")


def clean_text(text: str) -> str:
  """NFC-normalised text with product variables expanded and all whitespace runs one space."""
  text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
  text = _PRODUCT.sub(PRODUCT_NAME, text)
  return " ".join(text.split())


def pair_problem(source: str, target: str, *, max_chars: int, max_ratio: float) -> str | None:
  """Why a cleaned (source, target) pair is dropped, or None to keep it.

  Reasons: 'empty' (a side has no letters: numbers, symbols or nothing), 'identical'
  (untranslated), 'too_long' (a side over max_chars characters) and 'length_ratio' (one side
  over max_ratio times the other: a stale or misaligned translation).
  """
  if not _LETTER.search(source) or not _LETTER.search(target):
    return "empty"
  if source.casefold() == target.casefold():
    return "identical"
  if len(source) > max_chars or len(target) > max_chars:
    return "too_long"
  shorter, longer = sorted((len(source), len(target)))
  if longer > max_ratio * max(shorter, 10):
    return "length_ratio"
  return None
