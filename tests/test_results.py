"""Result tables from fake runs: mean ± std over seeds, missing runs marked, the paper's numbers
beside ours, averages of columns, CSV, and the PNG plots."""
import csv
import io
import json
import os
import statistics
import textwrap

import pytest

from synth.sweep import results
from synth.sweep import table as table_lib
from synth.sweep.spec import load_experiment

EXPERIMENT = textwrap.dedent("""
    from synth.sweep import Average, Experiment, Metric, Task
    EXPERIMENT = Experiment(
        name="toy", title="Toy table", seeds=(0, 1, 2),
        variants=("vanilla", "random", "dense"),
        labels={"vanilla": "Transformer", "random": "Random (R)"},
        tasks=(
            Task("mt", "configs/offline_ende.py", metrics=(
                Metric("BLEU", "tokenized_bleu", split="test",
                       paper={"vanilla": 27.67, "random": None}),)),
            Task("lm", "configs/lm_python_docs.py", metrics=(
                Metric("ppl", "perplexity", higher_is_better=False, paper={"vanilla": 38.21}),
                Metric("steps/s", "steps_per_s", source="train"),
                Metric("tok/s", "tokens_per_s", source="train"),
                Metric("wall", "wall_s", source="train"))),
            Task("cls", "configs/offline_sentiment.py", variants=("vanilla", "random"),
                 metrics=(Metric("acc", ("accuracy", "f1"), split=("a", "b")),)),
        ),
        averages=(Average("avg", ("BLEU", "acc"), paper={"vanilla": 50.0}),),
    )
""")

BLEU = {"vanilla": [27.0, 28.0, 29.0], "random": [25.0, 26.0, None], "dense": [None] * 3}
PPL = {"vanilla": [40.0, 42.0, 44.0], "random": [41.0, 41.0, 41.0], "dense": [39.0, 39.5, 40.0]}
ACC = {"vanilla": [(80.0, 90.0), (82.0, 92.0), (84.0, 94.0)], "random": [(70.0, 70.0)] * 3}


def write_rows(workdir, name, rows):
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, name), "a") as f:
    for row in rows:
      f.write(json.dumps(row) + "\n")


@pytest.fixture
def toy(tmp_path):
  """The toy experiment's file and a root with fake runs (some missing)."""
  path = tmp_path / "toy.py"
  path.write_text(EXPERIMENT)
  root = tmp_path / "runs"
  for variant in ("vanilla", "random", "dense"):
    for seed in range(3):
      wd = lambda task: str(root / "toy" / task / variant / f"seed{seed}")
      if BLEU[variant][seed] is not None:
        write_rows(wd("mt"), "eval_results.jsonl", [
            {"step": 10, "split": "test", "tokenized_bleu": 1.0},  # superseded by the later row
            {"step": 20, "split": "validation", "tokenized_bleu": 99.0},  # another split
            {"step": 20, "split": "test", "tokenized_bleu": BLEU[variant][seed]}])
      write_rows(wd("lm"), "eval_results.jsonl",
                 [{"step": 20, "split": "validation", "perplexity": PPL[variant][seed]}])
      write_rows(wd("lm"), "metrics.jsonl",
                 [{"step": s, "loss": 5.0 - s / 10 - seed / 100, "step_time_s": t,
                   "tokens_per_s": 1000.0 / t}
                  for s, t in ((5, 3.0), (10, 0.5), (15, 0.25), (20, 0.25))]
                 + [{"step": 10, "eval/loss": 3.5 + seed / 10}, {"step": 20, "eval/loss": 3.0}])
      write_rows(wd("lm"), "sweep_times.jsonl",
                 [{"command": "train", "wall_s": 100.0 + seed, "exit": 0},
                  {"command": "eval", "wall_s": 20.0, "exit": 0}])
      os.makedirs(os.path.join(wd("lm"), "checkpoints", "20"))
      with open(os.path.join(wd("lm"), "config.json"), "w") as f:
        json.dump({"train": {"num_steps": 20}}, f)
      if variant in ACC:
        acc, f1 = ACC[variant][seed]
        write_rows(wd("cls"), "eval_results.jsonl",
                   [{"step": 20, "split": "a", "accuracy": acc, "f1": f1},
                    {"step": 20, "split": "b", "accuracy": acc, "f1": f1}])
  return str(path), str(root)


def test_collect_means_stds_missing_and_averages(toy):
  path, root = toy
  table = table_lib.collect(load_experiment(path), root)
  bleu = table.cells[("vanilla", "BLEU")]
  assert bleu.mean == pytest.approx(28.0) and bleu.std == pytest.approx(1.0)
  assert table.cells[("random", "BLEU")].values == [25.0, 26.0, None]
  assert table.cells[("dense", "BLEU")].present == []
  # A column over two keys and two splits is their mean (T5's MRPC / MNLI style).
  assert table.cells[("vanilla", "acc")].values == [85.0, 87.0, 89.0]
  assert ("dense", "acc") not in table.cells  # the task does not run dense
  # steps/s: 1 / median step time after the first (compile) window.
  assert table.cells[("vanilla", "steps/s")].values == [4.0, 4.0, 4.0]
  # tokens/s: the median window after the first; wall: the sweep commands added up.
  assert table.cells[("vanilla", "tok/s")].values == [4000.0] * 3
  assert table.cells[("vanilla", "wall")].values == [120.0, 121.0, 122.0]
  # The average is taken seed by seed, only where every part exists.
  avg = table.cells[("vanilla", "avg")].values
  assert avg == [pytest.approx(56.0), pytest.approx(57.5), pytest.approx(59.0)]
  assert table.cells[("random", "avg")].values == [47.5, 48.0, None]
  assert table.cells[("dense", "avg")].values == [None] * 3


def test_markdown_and_csv_layout(toy):
  path, root = toy
  table = table_lib.collect(load_experiment(path), root)
  text = table_lib.markdown(table)
  lines = text.splitlines()
  assert lines[0] == "## Toy table"
  header = next(line for line in lines if line.startswith("| Model"))
  assert header == ("| Model | BLEU ↑ | paper | ppl ↓ | paper | steps/s ↑ | paper | tok/s ↑ | "
                    "paper | wall ↑ | paper | acc ↑ | paper | avg ↑ | paper |")
  row = {line.split(" | ")[0]: line for line in lines if line.startswith("| ")}
  assert row["| Transformer (`vanilla`)"].startswith(
      "| Transformer (`vanilla`) | **28.00 ± 1.00** | 27.67 | 42.00 ± 2.00 | 38.21 |")
  # Random: 2 of 3 seeds, paper entry not recovered ('?'); best (lowest) ppl is dense's.
  assert "| 25.50 ± 0.71 (2/3 seeds) | ? |" in row["| Random (R) (`random`)"]
  assert row["| `dense`"].startswith("| `dense` | missing | – | **39.50 ± 0.50** | – |")
  assert "| – | – |" in row["| `dense`"]  # no acc cell: the task does not run dense

  rows = list(csv.DictReader(io.StringIO(table_lib.to_csv(table))))
  by_variant = {r["variant"]: r for r in rows}
  assert by_variant["vanilla"]["BLEU mean"] == "28.000000"
  assert by_variant["vanilla"]["BLEU paper"] == "27.67"
  assert by_variant["random"]["BLEU n"] == "2" and by_variant["random"]["BLEU paper"] == ""
  assert by_variant["dense"]["BLEU n"] == "0" and by_variant["dense"]["BLEU mean"] == ""
  assert float(by_variant["random"]["ppl std"]) == 0.0
  assert statistics.fmean(PPL["dense"]) == float(by_variant["dense"]["ppl mean"])


def test_results_writes_table_csv_and_plots(toy, tmp_path):
  path, root = toy
  out = results(path, root, out_dir=str(tmp_path / "out"))
  paths = out["paths"]
  with open(paths["markdown"]) as f:
    assert f.read() == out["table"]
  assert os.path.getsize(paths["csv"]) > 0
  names = sorted(os.path.basename(p) for p in paths["plots"])
  assert names == ["bars_acc.png", "bars_avg.png", "bars_bleu.png", "bars_ppl.png",
                   "bars_steps_s.png", "bars_tok_s.png", "bars_wall.png", "eval_loss_lm.png",
                   "loss_lm.png"]  # no loss curves logged for mt or cls
  for p in paths["plots"]:
    with open(p, "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  default = results(path, root)
  assert default["paths"]["markdown"] == os.path.join(root, "toy", "results", "toy.md")


def test_per_run_rows_report_steps_throughput_wall_time_and_values(toy, tmp_path):
  path, root = toy
  experiment = load_experiment(path)
  rows = {r.run.name: r for r in table_lib.run_rows(experiment, root)}
  lm = rows["lm/vanilla/seed1"]
  assert (lm.step, lm.num_steps) == (20, 20)
  assert lm.tokens_per_s == pytest.approx(4000.0) and lm.wall_s == pytest.approx(121.0)
  assert lm.values["ppl"] == 42.0
  mt = rows["mt/random/seed2"]  # never ran
  assert (mt.step, mt.tokens_per_s, mt.wall_s, mt.values["BLEU"]) == (None, None, None, None)
  text = table_lib.runs_markdown(experiment, list(rows.values()))
  assert "| lm/vanilla/seed1 | 20/20 | 4000 | 2:01 | ppl 42.00, steps/s 4.00, tok/s 4000.00, " \
         "wall 121.00 |" in text
  assert "| mt/random/seed2 | missing |  |  |  |" in text
  lines = list(csv.DictReader(io.StringIO(table_lib.runs_csv(list(rows.values())))))
  by_run = {(r["task"], r["variant"], r["seed"]): r for r in lines}
  assert by_run[("lm", "vanilla", "1")]["wall_s"] == "121.0"
  assert by_run[("mt", "random", "2")]["step"] == ""
  out = results(path, root, out_dir=str(tmp_path / "out"))
  assert "### Runs" in out["table"]
  assert os.path.basename(out["paths"]["runs_csv"]) == "toy_runs.csv"


def test_eval_loss_curves_average_seeds_at_shared_steps(toy):
  from synth.sweep import plots
  path, root = toy
  experiment = load_experiment(path)
  from synth.sweep.grid import expand
  group = [r for r in expand(experiment, root) if r.task.name == "lm" and r.variant == "vanilla"]
  steps, losses = plots.loss_curve(group, "eval/loss")
  assert steps == [10, 20] and losses == [pytest.approx(3.6), 3.0]
