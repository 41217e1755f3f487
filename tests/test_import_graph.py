"""synth/ has no import cycles, counting imports made inside functions.

A function-level import is how a cycle hides (the module loads, and the circle only shows when
someone moves the import to the top). The graph is read from the source with ast, so the test
sees every import statement, run or not.
"""
import ast
import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent


def import_graph(package: pathlib.Path) -> dict[str, set[str]]:
  """{module: the package's modules it imports anywhere in its source}.

  `from a.b import c` counts as importing a.b.c when that is a module, else a.b. Relative
  imports are not followed (synth uses none).
  """
  root = package.name
  modules = {}
  for path in package.rglob("*.py"):
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
      parts = parts[:-1]
    modules[".".join(parts)] = path

  def owner(name: str) -> str:
    while name and name not in modules:
      name = name.rpartition(".")[0]
    return name

  graph = {name: set() for name in modules}
  for name, path in modules.items():
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        targets = [f"{node.module}.{a.name}" for a in node.names]
      else:
        continue
      graph[name] |= {owner(t) for t in targets if t.split(".")[0] == root}
    graph[name].discard(name)
    graph[name].discard("")
  return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """The strongly connected components with more than one module (Tarjan's algorithm)."""
  index, low, on_stack, stack, found = {}, {}, set(), [], []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(graph[v]):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1:
        found.append(sorted(component))

  for v in sorted(graph):
    if v not in index:
      visit(v)
  return found


def test_synth_has_no_import_cycle():
  graph = import_graph(REPO / "synth")
  assert "synth.train.trainer" in graph and "synth.eval.evaluate" in graph["synth.train.trainer"]
  assert cycles(graph) == []


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
  package = tmp_path / "pkg"
  (package / "sub").mkdir(parents=True)
  (package / "__init__.py").write_text("")
  (package / "sub" / "__init__.py").write_text("")
  (package / "a.py").write_text("from pkg.sub import b\n")
  (package / "sub" / "b.py").write_text("def f():\n  from pkg import c\n  return c\n")
  (package / "c.py").write_text("import pkg.a\n")
  (package / "d.py").write_text("import os\nfrom pkg import a\n")  # outside the circle
  assert cycles(import_graph(package)) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
