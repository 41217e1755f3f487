"""The paper's GLUE and SuperGLUE table: T5-base pre-trained on C4 with span corruption
(configs/c4_span.py), then fine-tuned text-to-text on each task (configs/glue.py,
configs/superglue.py) from that run, for the T5 baseline and Synthesizer R+V.

  synth sweep experiments/glue_superglue.py --root=gs://BUCKET/synth --tpu=...
  synth results experiments/glue_superglue.py --root=gs://BUCKET/synth

Each fine-tune starts from the same variant and seed's C4 run (its parameters and vocabulary),
so the sweep runs the pre-training first. Columns are T5's per-task scores on the validation
splits (the mean of a task's metrics, MNLI's matched and mismatched accuracies averaged) and the
benchmark averages as T5 computes them (WNLI left out). MultiRC reports answer-level F1 only:
the eval has no question ids for exact match (see synth.eval.task_metrics).
"""
from synth.sweep import Average, Experiment, Metric, Task
from synth.sweep.variants import LABELS

VARIANTS = ("vanilla", "random+vanilla")
LABELS = {**LABELS, "vanilla": "T5 (base)", "random+vanilla": "Synthesizer R+V (base)"}
UNKNOWN = {v: None for v in VARIANTS}  # per-task numbers: not recovered

# (task, column, metric keys, splits) as synth.eval.glue scores them.
GLUE = (("cola", "CoLA", "matthews_corrcoef", "validation"),
        ("sst2", "SST-2", "accuracy", "validation"),
        ("mrpc", "MRPC", ("f1", "accuracy"), "validation"),
        ("stsb", "STS-B", ("pearson_corrcoef", "spearman_corrcoef"), "validation"),
        ("qqp", "QQP", ("f1", "accuracy"), "validation"),
        ("mnli", "MNLI", "accuracy", ("validation_matched", "validation_mismatched")),
        ("qnli", "QNLI", "accuracy", "validation"),
        ("rte", "RTE", "accuracy", "validation"))
SUPERGLUE = (("boolq", "BoolQ", "accuracy", "validation"),
             ("cb", "CB", ("mean_3class_f1", "accuracy"), "validation"),
             ("copa", "COPA", "accuracy", "validation"),
             ("multirc", "MultiRC", "f1a", "validation"),
             ("record", "ReCoRD", ("f1", "exact_match"), "validation"),
             ("rte", "SGLUE RTE", "accuracy", "validation"),
             ("wic", "WiC", "accuracy", "validation"),
             ("wsc.fixed", "WSC", "accuracy", "validation"))


def _fine_tunes(benchmark: str, config: str, tasks) -> tuple[Task, ...]:
  return tuple(
      Task(f"{benchmark}_{task.split('.')[0]}", config, args={"task": task},
           pretrained_from="c4_span", checkpoint="best",
           metrics=(Metric(column, key, split=split, paper=UNKNOWN),))
      for task, column, key, split in tasks)


EXPERIMENT = Experiment(
    name="glue_superglue",
    title="GLUE and SuperGLUE (T5-base, C4 pre-training then fine-tuning)",
    variants=VARIANTS,
    labels=LABELS,
    seeds=(0,),
    tasks=(
        # Pre-training: no column of its own (its loss is in metrics.jsonl and the loss plot).
        Task("c4_span", "configs/c4_span.py"),
        *_fine_tunes("glue", "configs/glue.py", GLUE),
        *_fine_tunes("superglue", "configs/superglue.py", SUPERGLUE),
    ),
    averages=(
        Average("GLUE avg", tuple(column for _, column, _, _ in GLUE),
                paper={"vanilla": 83.5, "random+vanilla": 84.1}),
        Average("SuperGLUE avg", tuple(column for _, column, _, _ in SUPERGLUE),
                paper={"vanilla": 70.3, "random+vanilla": 72.2}),
    ),
    notes=("Fine-tunes are scored at their best checkpoint (by eval loss); averages are T5's "
           "(mean over tasks of the mean of each task's metrics)."),
)
