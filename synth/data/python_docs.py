"""The embedded offline LM corpus: docstrings of the Python standard library.

Every machine that runs synth has a Python install, so this corpus needs no download and no
network: it lets the LM experiments, smoke tests and benchmarks run anywhere. The text is real
English technical prose with code fragments, which is enough to tell attention variants apart.

The corpus is a pure function of the stdlib source (so of the Python version): files are read
in sorted order, docstrings in source order, duplicates dropped (first occurrence wins), and each
source file goes wholly to one split by a CRC32 of its path relative to the stdlib root. The
same Python therefore gives the same splits on every machine, and no docstring of a file can
leak from train into validation or test. Nothing is written to disk; the parse (~3-4 s) is
cached in memory for the life of the process.
"""
import ast
import functools
import gc
import inspect
import os
import sysconfig
import warnings
import zlib

SPLITS = ("train", "validation", "test")
# Per-mille boundaries of the CRC32 buckets: 90% train, 5% validation, 5% test.
_SPLIT_BOUNDS = ((900, "train"), (950, "validation"), (1000, "test"))
# Directories that hold tests, third-party packages or caches rather than stdlib prose.
_SKIP_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "dist-packages",
                        "__pycache__"})
# Docstrings shorter than this (after cleaning) are mostly "Return self." noise.
MIN_CHARS = 40

_DOC_NODES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def stdlib_root() -> str:
  """The directory the corpus is read from."""
  return sysconfig.get_paths()["stdlib"]


def split_of(relpath: str) -> str:
  """The split a stdlib file (posix path relative to the stdlib root) belongs to."""
  bucket = zlib.crc32(relpath.encode("utf-8")) % 1000
  return next(name for bound, name in _SPLIT_BOUNDS if bucket < bound)


def _source_files(root: str) -> list[str]:
  """Posix paths, relative to root, of every stdlib .py file outside skipped dirs, sorted."""
  found = []
  for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
    rel = os.path.relpath(dirpath, root)
    for f in filenames:
      if f.endswith(".py"):
        found.append(f if rel == "." else f"{rel}/{f}".replace(os.sep, "/"))
  return sorted(found)


def _docstrings(tree: ast.AST):
  """Yields the cleaned docstrings of a module and its classes/functions in source order."""
  stack = [tree]
  while stack:
    node = stack.pop()
    if isinstance(node, _DOC_NODES):
      doc = ast.get_docstring(node, clean=False)
      if doc:
        yield inspect.cleandoc(doc).strip()
    # Reversed so that popping from the stack visits children in source order.
    stack.extend(reversed([c for c in ast.iter_child_nodes(node)
                           if isinstance(c, (*_DOC_NODES, ast.stmt))]))


@functools.lru_cache(maxsize=None)
def _corpus(root: str, min_chars: int) -> dict[str, tuple[str, ...]]:
  """Parses the stdlib once and returns every split's docstrings."""
  # The ASTs are millions of short-lived acyclic objects: pausing the cyclic garbage collector
  # while parsing saves ~20% of the time.
  was_enabled = gc.isenabled()
  gc.disable()
  try:
    out = _parse_all(root, min_chars)
  finally:
    if was_enabled:
      gc.enable()
  if not any(out.values()):
    raise ValueError(f"python_docs found no docstrings under {root}; is the Python standard "
                     "library source installed?")
  return out


def _parse_all(root: str, min_chars: int) -> dict[str, tuple[str, ...]]:
  """Reads every file in order and assigns its new, long-enough docstrings to its split."""
  seen = set()
  out = {s: [] for s in SPLITS}
  for rel in _source_files(root):
    try:
      with open(os.path.join(root, rel), "rb") as f:
        source = f.read()
      with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences in old modules
        tree = ast.parse(source, filename=rel)
    except (SyntaxError, ValueError, OSError):
      continue  # e.g. lib2to3 fixtures written in Python 2 syntax
    split = split_of(rel)
    for doc in _docstrings(tree):
      if len(doc) >= min_chars and doc not in seen:
        seen.add(doc)
        out[split].append(doc)
  return {s: tuple(docs) for s, docs in out.items()}


def python_docs(split: str, *, min_chars: int = MIN_CHARS, root: str | None = None) -> list[str]:
  """Returns the docstrings of one split ('train', 'validation' or 'test') in a fixed order.

  Args:
    split: which split.
    min_chars: docstrings shorter than this are dropped.
    root: the stdlib directory to read (default: this interpreter's).
  """
  if split not in SPLITS:
    raise ValueError(f"unknown python_docs split '{split}'; choose from {', '.join(SPLITS)}")
  return list(_corpus(root or stdlib_root(), int(min_chars))[split])
