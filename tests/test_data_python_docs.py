"""The embedded corpus: deterministic, disjoint splits of the stdlib's docstrings."""
import pytest

from synth.data import python_docs as pd


def write(root, rel, text):
  path = root / rel
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text)


def fake_stdlib(root):
  doc = "A docstring that is comfortably longer than the minimum length."
  for i in range(40):
    write(root, f"pkg{i % 3}/mod{i}.py",
          f'"""Module {i}. {doc}"""\n\nclass C:\n  """Class {i}. {doc}"""\n\n'
          f'  def f(self):\n    """Method {i}.\n\n        Indented {doc}\n    """\n')
  write(root, "short.py", '"""Too short."""\n')
  write(root, "dup.py", '"""Module 0. ' + doc + '"""\n')  # a duplicate of pkg0/mod0.py's
  write(root, "test/test_x.py", f'"""Tests. {doc}"""\n')
  write(root, "site-packages/lib.py", f'"""Third party. {doc}"""\n')
  write(root, "broken.py", f'"""Broken. {doc}"""\nprint "python 2"\n')
  return root


def test_fake_stdlib_is_parsed_deterministically(tmp_path):
  root = str(fake_stdlib(tmp_path))
  splits = {s: pd.python_docs(s, root=root) for s in pd.SPLITS}
  pd._corpus.cache_clear()
  assert {s: pd.python_docs(s, root=root) for s in pd.SPLITS} == splits  # reparsed from scratch
  docs = [d for s in pd.SPLITS for d in splits[s]]
  assert len(docs) == len(set(docs)) == 120  # module, class, method of 40 files; dup dropped
  assert not any(w in d for d in docs for w in ("Tests.", "Third party", "Broken", "Too short"))
  method = next(d for d in docs if d.startswith("Method 0."))
  assert method == ("Method 0.\n\nIndented A docstring that is comfortably longer than the "
                    "minimum length.")
  for s, got in splits.items():
    for d in got:  # a file's docstrings all go to its file's split
      i = int(d.split()[1].rstrip("."))
      assert pd.split_of(f"pkg{i % 3}/mod{i}.py") == s
  # Source order within a file: module, class, method.
  i = splits["train"].index(next(d for d in splits["train"] if d.startswith("Module ")))
  n = splits["train"][i].split()[1]
  assert [d.split()[0] + " " + d.split()[1] for d in splits["train"][i:i + 3]] == [
      f"Module {n}", f"Class {n}", f"Method {n}"]


def test_split_assignment_is_a_stable_hash():
  # CRC32 of the relative path: the same on every machine and Python build.
  assert [pd.split_of(p) for p in ("json/__init__.py", "ast.py", "email/generator.py")] == [
      "train", "validation", "test"]
  buckets = [pd.split_of(f"m{i}.py") for i in range(4000)]
  assert 0.87 < buckets.count("train") / 4000 < 0.93
  assert 0.03 < buckets.count("validation") / 4000 < 0.07


def test_real_stdlib_splits_are_disjoint_and_deterministic():
  splits = {s: pd.python_docs(s) for s in pd.SPLITS}
  sets = {s: set(d) for s, d in splits.items()}
  assert not (sets["train"] & sets["validation"] or sets["train"] & sets["test"]
              or sets["validation"] & sets["test"])
  assert len(splits["train"]) > 1000 and len(splits["validation"]) > 50 and len(splits["test"]) > 50
  assert all(len(d) >= pd.MIN_CHARS and d == d.strip() for d in splits["validation"])
  assert pd.python_docs("validation") == splits["validation"]


def test_unknown_split_and_empty_root_fail_clearly(tmp_path):
  with pytest.raises(ValueError, match="unknown python_docs split 'dev'"):
    pd.python_docs("dev")
  with pytest.raises(ValueError, match="found no docstrings under"):
    pd.python_docs("train", root=str(tmp_path))
