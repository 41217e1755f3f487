"""Runs a module or code as if TensorFlow were not installed:
`python without_tensorflow.py -m synth ...` or `python without_tensorflow.py -c CODE`.

Every finder on sys.meta_path is wrapped so that `tensorflow` (and its submodules) is simply not
found: importlib.util.find_spec returns None and `import tensorflow` raises ModuleNotFoundError,
exactly as on a machine without it, while everything else in the environment stays importable.
"""
import runpy
import sys

HIDDEN = ("tensorflow", "tensorflow_cpu")


class _HideTensorFlow:
  """A meta-path finder that answers 'not found' for TensorFlow and defers the rest."""

  def __init__(self, finder):
    self.finder = finder

  def find_spec(self, name, path=None, target=None):
    if name.split(".")[0] in HIDDEN:
      return None
    find = getattr(self.finder, "find_spec", None)
    return find(name, path, target) if find else None

  def invalidate_caches(self):
    if hasattr(self.finder, "invalidate_caches"):
      self.finder.invalidate_caches()

  def __getattr__(self, name):
    return getattr(self.finder, name)


def hide_tensorflow() -> None:
  sys.meta_path[:] = [_HideTensorFlow(f) for f in sys.meta_path]
  for name in list(sys.modules):
    if name.split(".")[0] in HIDDEN:
      del sys.modules[name]


if __name__ == "__main__":
  if len(sys.argv) < 3 or sys.argv[1] not in ("-m", "-c"):
    sys.exit("usage: python without_tensorflow.py -m MODULE [ARGS ...] | -c CODE")
  hide_tensorflow()
  if sys.argv[1] == "-c":
    code, sys.argv = sys.argv[2], ["-c", *sys.argv[3:]]
    exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
    sys.exit(0)
  module = sys.argv[2]
  sys.argv = [module, *sys.argv[3:]]
  sys.path[0] = ""  # as `python -m` does: the current directory, not this file's
  runpy.run_module(module, run_name="__main__", alter_sys=True)
