"""What an experiment file declares: the grid of runs of one paper table and how to score it.

An experiment file (experiments/<table>.py) defines EXPERIMENT = Experiment(...). Rows of the
table are attention variants; columns are metrics of tasks. Every (task, variant, seed) is one
run of `synth train` with a config file, its arguments and dotted overrides, in its own workdir
<root>/<table>/<task>/<variant>/seed<k>, so a run is found again by its name alone.
"""
import dataclasses
import re
import runpy
from collections.abc import Mapping
from typing import Any

from synth.config import missing_file_message, resolve_shipped


# What an experiment, task or variant name may hold: it becomes one directory level of the
# run's workdir (<root>/<table>/<task>/<variant>/seed<k>), so no separators, no '.' or '..'.
_PATH_PART = re.compile(r"[A-Za-z0-9_+\-][A-Za-z0-9_+.\-]*")


def check_path_part(what: str, name: str) -> None:
  """A one-line ValueError unless `name` is safe as one directory name."""
  if not isinstance(name, str) or not _PATH_PART.fullmatch(name) or set(name) == {"."}:
    raise ValueError(f"{what} {name!r} cannot name a directory: use letters, digits and "
                     f"_ + - . (no '/', no leading '.', not '..')")


@dataclasses.dataclass(frozen=True)
class Metric:
  """One column of the table: where a number comes from and how to compare it.

  source='eval' reads the run's eval_results.jsonl: the last row of each split in `split` that
  has each key in `key`; the cell is the mean of those values (so MRPC's F1 and accuracy, or
  MNLI's matched and mismatched accuracies, make one column as T5 averages them).
  source='train' reads metrics.jsonl: `key` is the last logged value of that field, except
  'steps_per_s', which is 1 / the median step_time_s of the logged windows after the first (the
  first includes compilation).
  """
  column: str
  key: str | tuple[str, ...]
  split: str | tuple[str, ...] = "validation"
  higher_is_better: bool = True
  source: str = "eval"
  # The paper's value per variant; None = the paper has the row but the number was not recovered.
  paper: Mapping[str, float | None] = dataclasses.field(default_factory=dict)
  digits: int = 2

  def __post_init__(self):
    if self.source not in ("eval", "train"):
      raise ValueError(f"metric '{self.column}': source must be 'eval' or 'train', got "
                       f"'{self.source}'")

  @property
  def keys(self) -> tuple[str, ...]:
    return (self.key,) if isinstance(self.key, str) else tuple(self.key)

  @property
  def splits(self) -> tuple[str, ...]:
    return (self.split,) if isinstance(self.split, str) else tuple(self.split)


@dataclasses.dataclass(frozen=True)
class Average:
  """A column that is the mean of other columns, seed by seed (e.g. the GLUE average)."""
  column: str
  of: tuple[str, ...]
  paper: Mapping[str, float | None] = dataclasses.field(default_factory=dict)
  higher_is_better: bool = True
  digits: int = 2


@dataclasses.dataclass(frozen=True)
class Task:
  """One config file and its settings, run once per variant and seed."""
  name: str
  config: str
  # Config-file arguments besides `variant` (configs/glue.py:task=cola,...).
  args: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  # Dotted config overrides, e.g. {"train.num_steps": 300}, passed as --config.<key>=<value>.
  overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  metrics: tuple[Metric, ...] = ()
  # Which checkpoint `synth eval` scores: latest or best.
  checkpoint: str = "latest"
  # The variants this task runs (default: all of the experiment's).
  variants: tuple[str, ...] | None = None
  # Fine-tuning: the task whose run (same variant and seed) must finish first; its workdir is
  # passed as the config argument `pretrained` (configs/glue.py, configs/superglue.py).
  pretrained_from: str | None = None
  # Train one SentencePiece model per task under <root>/<table>/<task>/vocab/ and share it across
  # variants and seeds (the vocabulary is preprocessing: it should not differ between the rows
  # being compared). Off when the config brings its own vocabulary (fine-tuning).
  share_vocab: bool = True

  @property
  def eval_splits(self) -> tuple[str, ...]:
    """Every split `synth eval` must score for this task's eval columns (in first-use order)."""
    out = []
    for m in self.metrics:
      if m.source == "eval":
        out += [s for s in m.splits if s not in out]
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Experiment:
  """One paper table: variants (rows) x tasks (column groups) x seeds."""
  name: str
  title: str
  variants: tuple[str, ...]
  tasks: tuple[Task, ...]
  seeds: tuple[int, ...] = (0,)
  averages: tuple[Average, ...] = ()
  # Row labels (the paper's names), by variant.
  labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
  notes: str = ""

  def __post_init__(self):
    check_path_part("experiment name", self.name)
    for variant in self.variants:
      check_path_part(f"experiment '{self.name}': variant", variant)
    for task in self.tasks:
      check_path_part(f"experiment '{self.name}': task name", task.name)
      for variant in task.variants or ():
        check_path_part(f"task '{task.name}': variant", variant)
    names = [t.name for t in self.tasks]
    if len(set(names)) != len(names):
      raise ValueError(f"experiment '{self.name}': task names must be unique, got {names}")
    columns = [m.column for t in self.tasks for m in t.metrics] + [a.column
                                                                  for a in self.averages]
    if len(set(columns)) != len(columns):
      raise ValueError(f"experiment '{self.name}': column names must be unique, got {columns}")
    for t in self.tasks:
      if t.pretrained_from and t.pretrained_from not in names[:names.index(t.name)]:
        raise ValueError(f"task '{t.name}' is fine-tuned from '{t.pretrained_from}', which must "
                         f"be a task listed before it")
      if t.checkpoint not in ("latest", "best"):
        raise ValueError(f"task '{t.name}': checkpoint must be latest or best, got "
                         f"'{t.checkpoint}'")
    for a in self.averages:
      unknown = [c for c in a.of if c not in columns]
      if unknown:
        raise ValueError(f"average '{a.column}' names unknown columns {unknown}")

  def task(self, name: str) -> Task:
    for t in self.tasks:
      if t.name == name:
        return t
    raise KeyError(f"experiment '{self.name}' has no task '{name}'")

  def task_variants(self, task: Task) -> tuple[str, ...]:
    return self.variants if task.variants is None else task.variants

  def label(self, variant: str) -> str:
    return self.labels.get(variant, variant)


def split_experiment_spec(spec: str) -> tuple[str, str | None]:
  """'experiments/t.py:sizing=cpu' -> ('experiments/t.py', 'sizing=cpu'); no ':' -> (spec, None).

  The same `file.py:k=v,...` form as `--config` takes, so that one experiment file can hold
  several sizings of one table (e.g. a GPU and a CPU budget) instead of near-copies of itself.
  experiments/<table>.py names the package's own file when the current directory has none.
  """
  path, sep, arg = str(spec).partition(".py:")
  if not sep:
    return resolve_shipped(str(spec)), None
  return resolve_shipped(path + ".py"), arg


def load_experiment(spec: str) -> Experiment:
  """The Experiment of an experiment file: `path` or `path:k=v,...`.

  A file without arguments defines EXPERIMENT = Experiment(...). A file that takes arguments
  defines get_experiment(arg: str | None) -> Experiment, called with the text after ':' (None
  when there is none, so the file chooses its default); it may also define EXPERIMENT.
  """
  path, arg = split_experiment_spec(spec)
  try:
    namespace = runpy.run_path(path)
  except FileNotFoundError:
    raise FileNotFoundError(missing_file_message("experiment", path)) from None
  make = namespace.get("get_experiment")
  if callable(make):
    experiment = make(arg)
  elif arg is not None:
    raise ValueError(f"experiment file '{path}' takes no arguments (it defines no "
                     f"get_experiment), got ':{arg}'")
  else:
    experiment = namespace.get("EXPERIMENT")
  if not isinstance(experiment, Experiment):
    raise ValueError(f"experiment file '{path}' defines no EXPERIMENT = Experiment(...) or "
                     f"get_experiment(arg) returning one")
  return experiment
