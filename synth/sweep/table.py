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
import json
import math
import os
import statistics

from etils import epath

from synth.sweep import local
from synth.sweep.grid import Run, expand, is_url, join
from synth.sweep.spec import Experiment, Metric, load_experiment
from synth.sweep.status import checkpoint_steps, eval_rows, read_jsonl

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


# metrics.jsonl fields that are rates over a logging window: a run's value is the median of its
# windows after the first (which includes compilation), not the last window's.
WINDOW_RATES = ("tokens_per_s",)


def train_value(workdir: str, metric: Metric) -> float | None:
  """A metrics.jsonl field: the last logged value; for 'steps_per_s' the reciprocal of the
  median step time of the logged windows after the first (which includes compilation), and for
  the WINDOW_RATES the median of those windows; 'wall_s' is the run's wall time over its sweep
  commands (local.wall_seconds)."""
  if metric.key == "wall_s":
    return local.wall_seconds(workdir)
  rows = read_jsonl(join(workdir, "metrics.jsonl"))
  if metric.key == "steps_per_s":
    times = [r["step_time_s"] for r in rows if _number(r.get("step_time_s"))]
    times = times[1:] or times
    return 1.0 / statistics.median(times) if times and statistics.median(times) > 0 else None
  if metric.key in WINDOW_RATES:
    rates = [r[metric.key] for r in rows if _number(r.get(metric.key))]
    rates = rates[1:] or rates
    return statistics.median(rates) if rates else None
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


# --------------------------------------------------------------------------------------------------
# One row per run: what each run cost and what it scored, beside the table's seed means.
# --------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class RunRow:
  """One run of the grid: its last checkpoint, throughput, wall time and eval-column values."""
  run: Run
  step: int | None            # last complete checkpoint (None: not started)
  num_steps: int | None       # the run's planned steps, from its config.json (None: unknown)
  tokens_per_s: float | None  # median over logged windows after the first
  wall_s: float | None        # sum of its sweep commands' wall times
  values: dict[str, float | None]  # the task's eval columns


def run_rows(experiment: Experiment, root: str) -> list[RunRow]:
  """Every run of the experiment under root, in the sweep's order, finished or not."""
  rows = []
  for run in expand(experiment, root):
    steps = checkpoint_steps(run.workdir)
    config = read_json(join(run.workdir, "config.json"))
    planned = config.get("train", {}).get("num_steps") if isinstance(config, dict) else None
    values = {m.column: (eval_value(run.workdir, m, run.task.checkpoint) if m.source == "eval"
                         else train_value(run.workdir, m)) for m in run.task.metrics}
    rows.append(RunRow(run, steps[-1] if steps else None,
                       planned if isinstance(planned, int) else None,
                       train_value(run.workdir, Metric("tokens/s", "tokens_per_s",
                                                       source="train")),
                       local.wall_seconds(run.workdir), values))
  return rows


def read_json(path: str):
  """A JSON file's content, or None when it does not exist or is not JSON (a run in progress)."""
  try:
    return json.loads(epath.Path(path).read_text())
  except (FileNotFoundError, ValueError):
    return None


def _duration(seconds: float | None) -> str:
  if seconds is None:
    return ""
  seconds = int(round(seconds))
  return f"{seconds // 60}:{seconds % 60:02d}"


def runs_markdown(experiment: Experiment, rows: list[RunRow]) -> str:
  """Per run: the steps it reached, tokens/s, wall time and its value of each column."""
  lines = ["### Runs", "", "| run | steps | tokens/s | wall (m:s) | values |", "|---|---|---|---|---|"]
  digits = {m.column: m.digits for t in experiment.tasks for m in t.metrics}
  for r in rows:
    if r.step is None:
      steps = MISSING
    else:
      steps = f"{r.step}/{r.num_steps}" if r.num_steps else str(r.step)
    values = ", ".join(f"{c} {v:.{digits[c]}f}" for c, v in r.values.items() if v is not None)
    lines.append(f"| {r.run.name} | {steps} | "
                 f"{'' if r.tokens_per_s is None else f'{r.tokens_per_s:.0f}'} | "
                 f"{_duration(r.wall_s)} | {values} |")
  lines += ["", "tokens/s: the median of the run's logged training windows after the first "
                "(which includes compilation); wall: every sweep command of the run (start-up, "
                "training, evaluation) added up, resumes included."]
  return "\n".join(lines) + "\n"


def runs_csv(rows: list[RunRow]) -> str:
  """One line per run: task, variant, seed, step, num_steps, tokens_per_s, wall_s, columns."""
  out = io.StringIO()
  writer = csv.writer(out)
  columns = list(dict.fromkeys(c for r in rows for c in r.values))
  writer.writerow(["task", "variant", "seed", "step", "num_steps", "tokens_per_s", "wall_s",
                   *columns])
  for r in rows:
    writer.writerow([r.run.task.name, r.run.variant, r.run.seed,
                     "" if r.step is None else r.step, r.num_steps or "",
                     _fmt(r.tokens_per_s, 1), _fmt(r.wall_s, 1),
                     *[_fmt(r.values.get(c), 6) for c in columns]])
  return out.getvalue()


def results(experiment_path: str, root: str, out_dir: str | None = None) -> dict:
  """Writes <out_dir>/<table>.md (the table, then one row per run), <table>.csv,
  <table>_runs.csv and PNG plots; returns their paths and the markdown. out_dir defaults to <root>/<table>/results (./results/<table> for a gs:// root)."""
  from synth.sweep import plots  # matplotlib is only needed here
  experiment = load_experiment(experiment_path)
  root = root if is_url(root) else os.path.abspath(root)
  table = collect(experiment, root)
  if out_dir is None:
    out_dir = (os.path.join("results", experiment.name) if is_url(root)
               else os.path.join(root, experiment.name, "results"))
  os.makedirs(out_dir, exist_ok=True)
  per_run = run_rows(experiment, root)
  text = markdown(table) + "\n" + runs_markdown(experiment, per_run)
  paths = {"markdown": os.path.join(out_dir, f"{experiment.name}.md"),
           "csv": os.path.join(out_dir, f"{experiment.name}.csv"),
           "runs_csv": os.path.join(out_dir, f"{experiment.name}_runs.csv")}
  with open(paths["markdown"], "w") as f:
    f.write(text)
  with open(paths["csv"], "w", newline="") as f:
    f.write(to_csv(table))
  with open(paths["runs_csv"], "w", newline="") as f:
    f.write(runs_csv(per_run))
  paths["plots"] = plots.draw_all(table, root, out_dir)
  return {"table": text, "paths": paths}
