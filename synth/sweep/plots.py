"""PNG plots of a results table (synth.sweep.table): training loss curves per task, eval-loss
curves per task (where runs evaluate during training, train.eval_every > 0), and one bar chart
per column.

Drawn with matplotlib's Agg backend (files only, no display needed). Loss curves average the
seeds at the steps they share; bars show the mean over seeds with a ±std error bar, each seed as a
dot, on an axis zoomed to the values (not from 0), and the paper's number as a black marker where
the paper has one.
"""
import os
import re
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from synth.sweep.grid import Run, expand, join  # noqa: E402
from synth.sweep.status import read_jsonl  # noqa: E402


def slug(text: str) -> str:
  return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def loss_curve(runs: list[Run], key: str = "loss") -> tuple[list[int], list[float]]:
  """Mean of `key` over the runs (seeds) at the steps every run logged."""
  by_run = []
  for run in runs:
    rows = read_jsonl(join(run.workdir, "metrics.jsonl"))
    by_run.append({r["step"]: r[key] for r in rows if key in r and "step" in r})
  by_run = [curve for curve in by_run if curve]
  if not by_run:
    return [], []
  steps = sorted(set.intersection(*(set(c) for c in by_run)))
  return steps, [statistics.fmean(c[s] for c in by_run) for s in steps]


def draw_losses(table, root: str, out_dir: str) -> list[str]:
  """One PNG per task: training loss against step, one line per variant (mean over seeds)."""
  experiment, paths = table.experiment, []
  runs = expand(experiment, root)
  for task in experiment.tasks:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = False
    for variant in experiment.task_variants(task):
      group = [r for r in runs if r.task.name == task.name and r.variant == variant]
      steps, losses = loss_curve(group)
      if not steps:
        continue
      line, = ax.plot(steps, losses, label=experiment.label(variant), linewidth=1.2)
      drawn = True
      eval_steps, eval_losses = loss_curve(group, "eval/loss")
      if eval_steps:
        ax.plot(eval_steps, eval_losses, "o", color=line.get_color(), markersize=3)
    if drawn:
      ax.set(xlabel="step", ylabel="training loss (dots: eval loss)",
             title=f"{experiment.name}: {task.name}")
      ax.legend(fontsize=7, ncol=2)
      ax.grid(alpha=0.3)
      path = os.path.join(out_dir, f"loss_{slug(task.name)}.png")
      fig.tight_layout()
      fig.savefig(path, dpi=110)
      paths.append(path)
    plt.close(fig)
  return paths


def draw_eval_losses(table, root: str, out_dir: str) -> list[str]:
  """One PNG per task whose runs log `eval/loss` at 2 or more steps: eval loss against step,
  one line per variant (mean over the seeds at the steps they share), each seed a faint line.

  Separate from the training-loss plot because eval loss is what says whether variants differ
  (dropout-free, on held-out text) and whether a run was still improving when it stopped.
  """
  experiment, paths = table.experiment, []
  runs = expand(experiment, root)
  for task in experiment.tasks:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = False
    for variant in experiment.task_variants(task):
      group = [r for r in runs if r.task.name == task.name and r.variant == variant]
      steps, losses = loss_curve(group, "eval/loss")
      if len(steps) < 2:
        continue
      line, = ax.plot(steps, losses, "o-", label=experiment.label(variant), linewidth=1.4,
                      markersize=3)
      for run in group:
        seed_steps, seed_losses = loss_curve([run], "eval/loss")
        ax.plot(seed_steps, seed_losses, color=line.get_color(), alpha=0.25, linewidth=0.8)
      drawn = True
    if drawn:
      ax.set(xlabel="step", ylabel="eval loss (validation)",
             title=f"{experiment.name}: {task.name} eval loss (mean over seeds; faint: each seed)")
      ax.title.set_fontsize(9)
      ax.legend(fontsize=7, ncol=2)
      ax.grid(alpha=0.3)
      path = os.path.join(out_dir, f"eval_loss_{slug(task.name)}.png")
      fig.tight_layout()
      fig.savefig(path, dpi=110)
      paths.append(path)
    plt.close(fig)
  return paths


def draw_bars(table, out_dir: str) -> list[str]:
  """One PNG per column: mean ± std over seeds per variant, the paper's value as a marker."""
  experiment, paths = table.experiment, []
  for column in table.columns:
    variants = [v for v in table.rows if (v, column.name) in table.cells]
    cells = [table.cells[(v, column.name)] for v in variants]
    if not any(c.present for c in cells):
      continue
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(variants) + 2), 4.5))
    xs = range(len(variants))
    bottom, top = _value_range(cells)
    ax.bar(xs, [(c.mean if c.mean is not None else bottom) - bottom for c in cells],
           bottom=bottom, yerr=[c.std or 0.0 for c in cells], capsize=3, color="tab:blue",
           alpha=0.8, label="ours (mean ± std)")
    seeds = [(x, v) for x, c in zip(xs, cells) for v in c.present]
    ax.plot([x for x, _ in seeds], [v for _, v in seeds], "k.", markersize=4, label="each seed")
    papers = [(x, c.paper) for x, c in zip(xs, cells) if c.paper is not None]
    if papers:
      ax.plot([x for x, _ in papers], [p for _, p in papers], "kx", markersize=9, label="paper")
    for x, c in zip(xs, cells):
      if c.mean is None:
        ax.text(x, bottom, "missing", rotation=90, ha="center", va="bottom", fontsize=7)
    ax.set_ylim(bottom, top)
    ax.set_xticks(list(xs), [experiment.label(v) for v in variants], rotation=35, ha="right",
                  fontsize=8)
    ax.set(ylabel=column.name, title=f"{experiment.name}: {column.name} "
           f"({'higher' if column.higher_is_better else 'lower'} is better)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    path = os.path.join(out_dir, f"bars_{slug(column.name)}.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
  return paths


def _value_range(cells) -> tuple[float, float]:
  """The y range of a bar chart: every seed, mean ± std and paper value, with a margin. Bars start
  at its bottom, not at 0: variants often differ by a few percent, which bars from 0 hide."""
  values = [v for c in cells for v in c.present] + [c.paper for c in cells if c.paper is not None]
  values += [c.mean + s * (c.std or 0.0) for c in cells if c.mean is not None for s in (-1, 1)]
  lo, hi = min(values), max(values)
  pad = 0.15 * (hi - lo) or 0.05 * abs(hi) or 1.0
  return lo - pad, hi + pad


def draw_all(table, root: str, out_dir: str) -> list[str]:
  return (draw_losses(table, root, out_dir) + draw_eval_losses(table, root, out_dir)
          + draw_bars(table, out_dir))
