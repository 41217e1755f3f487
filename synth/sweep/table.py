"""A paper table from the runs of a sweep: mean ± std over seeds, the paper's number beside ours.

Each cell reads the runs' own files (eval_results.jsonl, metrics.jsonl), so a table can be made
at any time: runs still training, or never started, are marked rather than left out. The table
is written as markdown (to read) and CSV (to load), with the per-seed numbers kept in the CSV's
n column and the plots drawn by synth.sweep.plots.
"""
import csv
import dataclasses
import functools
import io
import math
import os
import statistics

from synth.sweep.grid import Run, expand, is_url, join
from synth.sweep.spec import Experiment, Metric, load_experiment
from synth.sweep.status import eval_rows, read_jsonl

MISSING = "missing"


@dataclasses.dataclass
class Cell:
  """One (variant, column) of the table: a value per seed (None = that seed has no result)."""
  values: list[float | None]
  paper: float | None = None
  in_paper: bool = False  # False: the paper has no such entry (shown as '–')

  @property
  def present(self) -> list[float]:
    return [v for v in self.values if v is not None]

  @property
  def mean(self) -> float | None:
    return statistics.fmean(self.present) if self.present else None

  @property
  def std(self) -> float | None:
    """Sample standard deviation over seeds (None with fewer than two)."""
    p = self.present
    return statistics.stdev(p) if len(p) > 1 else None


@dataclasses.dataclass
class Column:
  name: str
  higher_is_better: bool
  digits: int
  task: str | None  # None for an Average column


@dataclasses.dataclass
class Table:
  experiment: Experiment
  columns: list[Column]
  rows: list[str]                               # variants, in the experiment's order
  cells: dict[tuple[str, str], Cell]            # (variant, column) -> cell


def eval_value(workdir: str, metric: Metric, checkpoint: str = "latest") -> float | None:
  """The metric from a run's eval_results.jsonl: for each (split, key) the last row that has it,
  averaged; None if any is missing. For a task scored at its best checkpoint, the trainer's own
  row (its last step) does not count."""
  rows = eval_rows(workdir, checkpoint)
  values = []
  for split in metric.splits:
    for key in metric.keys:
      found = [r[key] for r in rows if r.get("split") == split and _number(r.get(key))]
      if not found:
        return None
      values.append(float(found[-1]))
  return statistics.fmean(values)


def train_value(workdir: str, metric: Metric) -> float | None:
  """A metrics.jsonl field: the last logged value, or for 'steps_per_s' the reciprocal of the
  median step time of the logged windows after the first (which includes compilation)."""
  rows = read_jsonl(join(workdir, "metrics.jsonl"))
  if metric.key == "steps_per_s":
    times = [r["step_time_s"] for r in rows if _number(r.get("step_time_s"))]
    times = times[1:] or times
    return 1.0 / statistics.median(times) if times and statistics.median(times) > 0 else None
  found = [r[k] for r in rows for k in metric.keys if _number(r.get(k))]
  return float(found[-1]) if found else None


def _number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _paper(paper: dict, variant: str) -> tuple[float | None, bool]:
  return paper.get(variant), variant in paper


def collect(experiment: Experiment, root: str) -> Table:
  """Reads every run of the experiment under `root` into a Table (missing runs included)."""
  runs: dict[tuple[str, str, int], Run] = {
      (r.task.name, r.variant, r.seed): r for r in expand(experiment, root)}
  columns, cells = [], {}
  rows = list(experiment.variants)
  for task in experiment.tasks:
    for variant in experiment.task_variants(task):
      if variant not in rows:
        rows.append(variant)
    for metric in task.metrics:
      columns.append(Column(metric.column, metric.higher_is_better, metric.digits, task.name))
      read = (functools.partial(eval_value, checkpoint=task.checkpoint)
              if metric.source == "eval" else train_value)
      for variant in experiment.task_variants(task):
        values = []
        for seed in experiment.seeds:
          run = runs[(task.name, variant, seed)]
          values.append(read(run.workdir, metric))
        cells[(variant, metric.column)] = Cell(values, *_paper(metric.paper, variant))
  for average in experiment.averages:
    columns.append(Column(average.column, average.higher_is_better, average.digits, None))
    for variant in rows:
      parts = [cells.get((variant, c)) for c in average.of]
      values = []
      for i in range(len(experiment.seeds)):
        seed_values = [p.values[i] if p is not None else None for p in parts]
        values.append(statistics.fmean(seed_values) if all(v is not None for v in seed_values)
                      else None)
      cells[(variant, average.column)] = Cell(values, *_paper(average.paper, variant))
  return Table(experiment, columns, rows, cells)


# --------------------------------------------------------------------------------------------------
# Formatting.
# --------------------------------------------------------------------------------------------------

def _fmt(value: float | None, digits: int) -> str:
  return "" if value is None else f"{value:.{digits}f}"


def format_cell(cell: Cell | None, digits: int, seeds: int) -> str:
  """'27.12 ± 0.31' (no ± for one seed), with '(2/3 seeds)' when some are missing and 'missing'
  when all are."""
  if cell is None:
    return "–"
  if not cell.present:
    return MISSING
  text = f"{cell.mean:.{digits}f}"
  if cell.std is not None:
    text += f" ± {cell.std:.{digits}f}"
  if len(cell.present) < seeds:
    text += f" ({len(cell.present)}/{seeds} seeds)"
  return text


def format_paper(cell: Cell | None, digits: int) -> str:
  """The paper's number; '?' where the paper has the entry but the number was not recovered,
  '–' where the paper has no such entry."""
  if cell is None or not cell.in_paper:
    return "–"
  return "?" if cell.paper is None else f"{cell.paper:.{digits}f}"


def _best(table: Table, column: Column) -> set[str]:
  """The variants with the best mean of a column (ties all count); none with under 2 rows."""
  means = {v: table.cells[(v, column.name)].mean for v in table.rows
           if (v, column.name) in table.cells and table.cells[(v, column.name)].mean is not None}
  if len(means) < 2:
    return set()
  best = (max if column.higher_is_better else min)(means.values())
  return {v for v, m in means.items() if m == best}


def markdown(table: Table) -> str:
  """The table in markdown: ours (mean ± std over seeds, best in bold) and the paper's beside."""
  e, seeds = table.experiment, len(table.experiment.seeds)
  header = ["Model"]
  for c in table.columns:
    header += [f"{c.name} {'↑' if c.higher_is_better else '↓'}", "paper"]
  lines = [f"## {e.title}", ""]
  if e.notes:
    lines += [e.notes, ""]
  lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  best = {c.name: _best(table, c) for c in table.columns}
  for variant in table.rows:
    row = [f"{e.label(variant)} (`{variant}`)" if e.label(variant) != variant else f"`{variant}`"]
    for c in table.columns:
      cell = table.cells.get((variant, c.name))
      text = format_cell(cell, c.digits, seeds)
      if variant in best[c.name]:
        text = f"**{text}**"
      row += [text, format_paper(cell, c.digits)]
    lines.append("| " + " | ".join(row) + " |")
  lines += ["", f"Ours: mean ± sample standard deviation over seeds {', '.join(map(str, e.seeds))}; bold = best "
                f"mean per column; '{MISSING}' = no finished, evaluated run; paper '?' = not "
                f"recovered, '–' = not in the paper."]
  return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
  """One row per variant; per column its mean, std, number of seeds with a result and paper."""
  out = io.StringIO()
  writer = csv.writer(out)
  header = ["model", "variant"]
  for c in table.columns:
    header += [f"{c.name} mean", f"{c.name} std", f"{c.name} n", f"{c.name} paper"]
  writer.writerow(header)
  for variant in table.rows:
    row = [table.experiment.label(variant), variant]
    for c in table.columns:
      cell = table.cells.get((variant, c.name))
      if cell is None:
        row += ["", "", "", ""]
      else:
        row += [_fmt(cell.mean, 6), _fmt(cell.std, 6), len(cell.present),
                "" if cell.paper is None else cell.paper]
    writer.writerow(row)
  return out.getvalue()


def results(experiment_path: str, root: str, out_dir: str | None = None) -> dict:
  """Writes <out_dir>/<table>.md, <table>.csv and PNG plots; returns their paths and the
  markdown. out_dir defaults to <root>/<table>/results (./results/<table> for a gs:// root)."""
  from synth.sweep import plots  # matplotlib is only needed here
  experiment = load_experiment(experiment_path)
  root = root if is_url(root) else os.path.abspath(root)
  table = collect(experiment, root)
  if out_dir is None:
    out_dir = (os.path.join("results", experiment.name) if is_url(root)
               else os.path.join(root, experiment.name, "results"))
  os.makedirs(out_dir, exist_ok=True)
  text = markdown(table)
  paths = {"markdown": os.path.join(out_dir, f"{experiment.name}.md"),
           "csv": os.path.join(out_dir, f"{experiment.name}.csv")}
  with open(paths["markdown"], "w") as f:
    f.write(text)
  with open(paths["csv"], "w", newline="") as f:
    f.write(to_csv(table))
  paths["plots"] = plots.draw_all(table, root, out_dir)
  return {"table": text, "paths": paths}
