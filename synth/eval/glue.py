"""GLUE and SuperGLUE metrics per task, and the benchmark averages, as T5 computes them.

Every score is on T5's 0-100 scale (correlations and Matthews' coefficient included). BENCHMARKS
maps each benchmark's tasks to their metrics and to the group they are averaged in. The benchmark
average (T5's compute_avg_glue, which the Synthesizer paper's T5-based GLUE / SuperGLUE tables
follow) is the mean over groups of the mean of every metric in the group: one group per task,
except MNLI, whose matched and mismatched accuracies form one group. WNLI is scored but, as in T5
and the paper's tables, left out of the GLUE average (its validation set is adversarial to anything
but the majority class).

Inputs: class ids for classification tasks (MRPC and QQP's positive class, 'duplicate', is 1),
floats for STS-B, one 0/1 label per answer option plus a question id per option for MultiRC, and
for ReCoRD one predicted string and the list of acceptable answers per example.
"""
import collections
import dataclasses
import re
import string
from typing import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class TaskMetrics:
  metrics: tuple[str, ...]
  group: str            # tasks sharing a group are averaged together first (MNLI m / mm)
  averaged: bool = True  # counted in the benchmark average


def _task(*metrics, group=None, averaged=True):
  return lambda name: TaskMetrics(tuple(metrics), group or name, averaged)


_GLUE = {
    "cola": _task("matthews_corrcoef"),
    "sst2": _task("accuracy"),
    "mrpc": _task("f1", "accuracy"),
    "stsb": _task("pearson_corrcoef", "spearman_corrcoef"),
    "qqp": _task("f1", "accuracy"),
    "mnli_matched": _task("accuracy", group="mnli"),
    "mnli_mismatched": _task("accuracy", group="mnli"),
    "qnli": _task("accuracy"),
    "rte": _task("accuracy"),
    "wnli": _task("accuracy", averaged=False),
}
_SUPER_GLUE = {
    "boolq": _task("accuracy"),
    "cb": _task("mean_3class_f1", "accuracy"),
    "copa": _task("accuracy"),
    "multirc": _task("f1a", "exact_match"),
    "record": _task("f1", "exact_match"),
    "rte": _task("accuracy"),
    "wic": _task("accuracy"),
    "wsc": _task("accuracy"),
}
BENCHMARKS = {benchmark: {name: make(name) for name, make in tasks.items()}
              for benchmark, tasks in (("glue", _GLUE), ("super_glue", _SUPER_GLUE))}


# ------------------------------------------------------------------------------------------------
# Metric functions (0-100)
# ------------------------------------------------------------------------------------------------

def _pair(predictions, targets):
  predictions, targets = np.asarray(predictions), np.asarray(targets)
  if predictions.shape != targets.shape or predictions.ndim != 1:
    raise ValueError(f"predictions {predictions.shape} and targets {targets.shape} must be two "
                     "1-D sequences of the same length")
  if not predictions.size:
    raise ValueError("metrics need at least one example")
  return predictions, targets


def accuracy(predictions, targets) -> float:
  p, t = _pair(predictions, targets)
  return 100.0 * float(np.mean(p == t))


def _f1_of(p, t, positive) -> float:
  tp = np.sum((p == positive) & (t == positive))
  fp = np.sum((p == positive) & (t != positive))
  fn = np.sum((p != positive) & (t == positive))
  return 0.0 if tp == 0 else float(2 * tp / (2 * tp + fp + fn))


def f1(predictions, targets, positive=1) -> float:
  """Binary F1 of the positive class (0 when it is never predicted correctly)."""
  return 100.0 * _f1_of(*_pair(predictions, targets), positive)


def mean_f1(predictions, targets, num_classes: int) -> float:
  """Macro F1: the unweighted mean of per-class F1 over classes 0 .. num_classes-1 (CB: 3)."""
  p, t = _pair(predictions, targets)
  return 100.0 * float(np.mean([_f1_of(p, t, c) for c in range(num_classes)]))


def matthews_corrcoef(predictions, targets) -> float:
  """Matthews' correlation coefficient (multi-class form; 0 when a marginal is constant)."""
  p, t = _pair(predictions, targets)
  labels = np.union1d(p, t)
  confusion = np.array([[np.sum((t == a) & (p == b)) for b in labels] for a in labels], float)
  n, correct = confusion.sum(), np.trace(confusion)
  true_counts, pred_counts = confusion.sum(1), confusion.sum(0)
  cov = correct * n - pred_counts @ true_counts
  denom = np.sqrt((n * n - pred_counts @ pred_counts) * (n * n - true_counts @ true_counts))
  return 0.0 if denom == 0 else 100.0 * float(cov / denom)


def pearson_corrcoef(predictions, targets) -> float:
  p, t = _pair(predictions, targets)
  import scipy.stats  # here, not at the top: it costs a second of every command's start-up
  return 100.0 * float(scipy.stats.pearsonr(p.astype(float), t.astype(float))[0])


def spearman_corrcoef(predictions, targets) -> float:
  p, t = _pair(predictions, targets)
  import scipy.stats
  return 100.0 * float(scipy.stats.spearmanr(p.astype(float), t.astype(float))[0])


def group_exact_match(predictions, targets, groups) -> float:
  """MultiRC EM: the percentage of questions (groups) whose every answer option is right."""
  p, t = _pair(predictions, targets)
  groups = np.asarray(groups)
  if groups.shape != p.shape:
    raise ValueError(f"{groups.shape[0] if groups.ndim else 0} question ids for {p.size} "
                     "answer options")
  right = collections.defaultdict(lambda: True)
  for g, ok in zip(groups.tolist(), (p == t).tolist()):
    right[g] &= ok
  return 100.0 * float(np.mean(list(right.values())))


def normalize_answer(text: str) -> str:
  """SQuAD / ReCoRD answer normalisation: lowercase, drop punctuation and articles, squash spaces."""
  text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
  text = re.sub(r"\b(a|an|the)\b", " ", text)
  return " ".join(text.split())


def _token_f1(prediction: str, answer: str) -> float:
  pred, gold = normalize_answer(prediction).split(), normalize_answer(answer).split()
  common = sum((collections.Counter(pred) & collections.Counter(gold)).values())
  if common == 0:
    return 0.0
  precision, recall = common / len(pred), common / len(gold)
  return 2 * precision * recall / (precision + recall)


def squad_metrics(predictions: Sequence[str], answers: Sequence[Sequence[str]]) -> dict:
  """ReCoRD / SQuAD exact match and token F1, each the max over an example's answers, averaged."""
  if len(predictions) != len(answers) or not predictions:
    raise ValueError(f"{len(predictions)} predictions for {len(answers)} answer lists")
  if any(isinstance(a, str) or not a for a in answers):
    raise ValueError("each example needs a non-empty list of acceptable answer strings")
  em = [max(float(normalize_answer(p) == normalize_answer(a)) for a in gold)
        for p, gold in zip(predictions, answers)]
  f1s = [max(_token_f1(p, a) for a in gold) for p, gold in zip(predictions, answers)]
  return {"exact_match": 100.0 * float(np.mean(em)), "f1": 100.0 * float(np.mean(f1s))}


# ------------------------------------------------------------------------------------------------
# Tasks and averages
# ------------------------------------------------------------------------------------------------

def _lookup(benchmark: str, task: str) -> TaskMetrics:
  if benchmark not in BENCHMARKS:
    raise ValueError(f"unknown benchmark '{benchmark}'; choose from {', '.join(BENCHMARKS)}")
  if task not in BENCHMARKS[benchmark]:
    raise ValueError(f"unknown {benchmark} task '{task}'; choose from "
                     f"{', '.join(BENCHMARKS[benchmark])}")
  return BENCHMARKS[benchmark][task]


def score_task(benchmark: str, task: str, predictions, targets, *, groups=None) -> dict:
  """The task's metrics (see BENCHMARKS) as {metric name: score}; `groups` = MultiRC question
  ids."""
  spec = _lookup(benchmark, task)
  if task == "record":
    return squad_metrics(predictions, targets)
  if task == "multirc":
    if groups is None:
      raise ValueError("multirc exact match needs groups: the question id of every answer option")
    return {"f1a": f1(predictions, targets),
            "exact_match": group_exact_match(predictions, targets, groups)}
  functions = {"accuracy": accuracy, "f1": f1, "matthews_corrcoef": matthews_corrcoef,
               "pearson_corrcoef": pearson_corrcoef, "spearman_corrcoef": spearman_corrcoef,
               "mean_3class_f1": lambda p, t: mean_f1(p, t, 3)}
  return {name: functions[name](predictions, targets) for name in spec.metrics}


def benchmark_average(benchmark: str, results: dict) -> float:
  """T5's average: mean over groups of the mean of the group's metrics (see the module doc).

  results: {task: {metric: score}} with every averaged task of the benchmark (others ignored).
  """
  tasks = {name: spec for name, spec in BENCHMARKS.get(benchmark, {}).items() if spec.averaged}
  if not tasks:
    raise ValueError(f"unknown benchmark '{benchmark}'; choose from {', '.join(BENCHMARKS)}")
  missing = [f"{t}/{m}" for t, spec in tasks.items() for m in spec.metrics
             if m not in results.get(t, {})]
  if missing:
    raise ValueError(f"the {benchmark} average needs every task's metrics; missing "
                     f"{', '.join(missing)}")
  groups = collections.defaultdict(list)
  for name, spec in tasks.items():
    groups[spec.group].extend(results[name][m] for m in spec.metrics)
  return float(np.mean([np.mean(values) for values in groups.values()]))
