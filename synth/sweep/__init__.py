"""Sweeps over a paper table's grid and the table of their results.

  sweep(experiments/<table>.py, root)    train + evaluate every unfinished run (local or TPU)
  results(experiments/<table>.py, root)  markdown + CSV table with the paper's numbers, plots
"""
from synth.sweep.api import plans_for, sweep
from synth.sweep.spec import Average, Experiment, Metric, Task, load_experiment
from synth.sweep.table import results

__all__ = ["Average", "Experiment", "Metric", "Task", "load_experiment", "plans_for", "results",
           "sweep"]
