"""Which metrics a task is scored with, and computing them from decoded or predicted outputs.

config.eval.metrics lists metric names ('' = the task kind's default):
  bleu, tokenized_bleu   translation (sacrebleu's standard detokenised BLEU, and the tokenised
                         BLEU the T2T-era papers reported)
  rouge                  summarisation (ROUGE-1/2/L/Lsum F-measure)
  dialogue               the paper's PersonaChat metrics: BLEU-1, ROUGE-L, METEOR and CIDEr;
                         each alone as bleu1, rougeL, meteor, cider (METEOR needs WordNet and
                         CIDEr pycocoevalcap: `pip install 'synth[dialogue]'`)
  accuracy               classification, exact match of the label (or the target text)
  glue                   the GLUE/SuperGLUE task's own metrics (data.source 'glue/<task>' or
                         'super_glue/<task>'), as the paper and T5 report them
  correlation            regression: Pearson and Spearman
"""
from typing import Sequence

import numpy as np

from synth.eval import glue
from synth.eval import metrics as text_metrics

METRICS = ("bleu", "tokenized_bleu", "rouge", "dialogue", *text_metrics.DIALOGUE_METRICS,
           "accuracy", "glue", "correlation")
DEFAULTS = {"lm": (), "seq2seq": ("bleu", "tokenized_bleu"), "classification": ("accuracy",),
            "regression": ("correlation",)}


def metric_names(config, kind: str) -> tuple[str, ...]:
  """The configured metric names, or the kind's (and GLUE tasks') defaults."""
  names = tuple(n.strip() for n in config.eval.metrics.split(",") if n.strip())
  unknown = [n for n in names if n not in METRICS]
  if unknown:
    raise ValueError(f"unknown eval.metrics {unknown}; choose from {', '.join(METRICS)}")
  if names:
    return names
  if glue_task(config) is not None:
    return ("glue",)
  return DEFAULTS[kind]


def glue_task(config) -> tuple[str, str] | None:
  """('glue' | 'super_glue', task) for a GLUE/SuperGLUE data source, else None."""
  source = str(config.data.source)
  benchmark, _, task = source.partition("/")
  if benchmark in glue.BENCHMARKS and task:
    task = task.split(".")[0]  # super_glue/wsc.fixed -> wsc
    task = {"mnli_matched": "mnli_matched", "mnli": "mnli_matched"}.get(task, task)
    return benchmark, task
  return None


def label_ids(texts: Sequence[str], label_names: Sequence[str]) -> np.ndarray:
  """Text-to-text predictions -> label ids (-1 for text that names no label)."""
  index = {name: i for i, name in enumerate(label_names)}
  return np.asarray([index.get(t.strip(), -1) for t in texts])


def to_floats(texts: Sequence[str]) -> np.ndarray:
  """Regression targets decoded as text (T5's STS-B) -> floats; unparsable text scores 0."""
  out = []
  for t in texts:
    try:
      out.append(float(t.strip()))
    except ValueError:
      out.append(0.0)
  return np.asarray(out)


def score(names: Sequence[str], config, *, predictions, references) -> dict:
  """{metric: value} for predictions vs references.

  For text outputs both are strings; for classifier outputs both are label ids (or floats for
  regression).
  """
  out = {}
  for name in names:
    if name == "bleu":
      result = text_metrics.bleu(list(predictions), list(references))
      out["bleu"] = result.score
    elif name == "tokenized_bleu":
      out["tokenized_bleu"] = text_metrics.tokenized_bleu(list(predictions),
                                                          list(references)).score
    elif name == "rouge":
      out.update(text_metrics.rouge(list(predictions), list(references)))
    elif name == "dialogue":
      out.update(text_metrics.dialogue(list(predictions), list(references)))
    elif name == "bleu1":
      out["bleu1"] = text_metrics.bleu1(list(predictions), list(references)).score
    elif name == "rougeL":
      out["rougeL"] = text_metrics.rouge_l(list(predictions), list(references))
    elif name == "meteor":
      out["meteor"] = text_metrics.meteor(list(predictions), list(references))
    elif name == "cider":
      out["cider"] = text_metrics.cider(list(predictions), list(references))
    elif name == "accuracy":
      out["accuracy"] = 100.0 * float(np.mean([p == r for p, r in zip(predictions, references)]))
    elif name == "correlation":
      p, r = np.asarray(predictions, float), np.asarray(references, float)
      out["pearson"] = glue.pearson_corrcoef(p, r)
      out["spearman"] = glue.spearman_corrcoef(p, r)
    elif name == "glue":
      task = glue_task(config)
      if task is None:
        raise ValueError(f"eval.metrics 'glue' needs a glue/<task> or super_glue/<task> source, "
                         f"got '{config.data.source}'")
      benchmark, name_ = task
      if name_ == "multirc":
        # Exact match needs each answer option's question id, which the examples do not carry:
        # report the answer-level F1 only.
        out["f1a"] = glue.f1(predictions, references)
      elif name_ == "record":
        out.update(glue.squad_metrics(list(predictions), [[r] for r in references]))
      else:
        out.update(glue.score_task(benchmark, name_, predictions, references))
  return out
