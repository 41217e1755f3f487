"""An experiment's grid as runs: one workdir and one `synth train` argument list per run.

Workdirs are <root>/<table>/<task>/<variant>/seed<k>: readable, unique, and stable, so running a
sweep again finds every run where it left it. Commands are argument lists for subprocess (never
a shell string): a value with spaces or quotes reaches the trainer unchanged.
"""
import dataclasses
import os
import posixpath
import sys
from collections.abc import Iterable

from synth.config import ConfigError, load_config, override_flags, spm_vocab_size
from synth.run_files import is_remote as is_url  # one definition of "remote" for the package
from synth.sweep.spec import Experiment, Task


def join(*parts: str) -> str:
  """Path join that keeps gs:// URLs intact."""
  return posixpath.join(*parts) if is_url(parts[0]) else os.path.join(*parts)


@dataclasses.dataclass(frozen=True)
class Run:
  """One training run of the grid."""
  table: str
  task: Task
  variant: str
  seed: int
  root: str
  # The run this one fine-tunes from (Task.pretrained_from), or None.
  parent: "Run | None" = None

  @property
  def name(self) -> str:
    return f"{self.task.name}/{self.variant}/seed{self.seed}"

  @property
  def workdir(self) -> str:
    path = join(self.root, self.table, self.task.name, self.variant, f"seed{self.seed}")
    inside = (posixpath.normpath(path).startswith(posixpath.normpath(self.root) + "/")
              if is_url(self.root) else
              os.path.commonpath([os.path.abspath(path), os.path.abspath(self.root)])
              == os.path.abspath(self.root))
    if not inside:  # names are checked in spec; this guards every other way in
      raise ValueError(f"run workdir {path} is not inside --root {self.root}")
    return path

  def config_args(self) -> dict:
    """The config-file arguments: variant, the task's args, and `pretrained` for fine-tunes."""
    args = {"variant": self.variant, **self.task.args}
    if self.parent is not None:
      args["pretrained"] = self.parent.workdir
    for key, value in args.items():
      if "," in str(value) or "=" in str(value):
        raise ValueError(f"run {self.name}: config argument {key}={value} may not contain ',' "
                         f"or '=' (they separate config-file arguments)")
    return args

  def config_spec(self) -> str:
    """`file.py:k=v,...` as --config takes it."""
    return f"{self.task.config}:" + ",".join(f"{k}={v}" for k, v in self.config_args().items())

  def overrides(self) -> dict:
    """Dotted overrides of this run: the task's and the seed."""
    return {**self.task.overrides, "seed": self.seed}


def expand(experiment: Experiment, root: str, only: str | Iterable[str] | None = None) -> list[Run]:
  """The runs of `experiment` under `root`, in an order where every run follows its parent.

  `only` keeps runs matching 'key=value[,key=value...]' filters over variant, task and seed: the
  same key repeated means any of its values, different keys must all match (e.g.
  'variant=dense,variant=random,seed=0'). The parent of a kept fine-tune is kept too.
  """
  filters = parse_only(only)
  runs, by_key = [], {}
  for task in experiment.tasks:
    for variant in experiment.task_variants(task):
      for seed in experiment.seeds:
        parent = by_key.get((task.pretrained_from, variant, seed)) if task.pretrained_from \
            else None
        if task.pretrained_from and parent is None:
          raise ValueError(f"task '{task.name}' fine-tunes from '{task.pretrained_from}', which "
                           f"has no run for variant '{variant}'")
        run = Run(experiment.name, task, variant, seed, root, parent)
        by_key[(task.name, variant, seed)] = run
        runs.append(run)
  if not filters:
    return runs
  keep = {r.name for r in runs if _matches(r, filters)}
  if not keep:
    raise ValueError(f"--only {only} matches no run of {experiment.name} (variants: "
                     f"{', '.join(experiment.variants)}; tasks: "
                     f"{', '.join(t.name for t in experiment.tasks)}; seeds: "
                     f"{', '.join(map(str, experiment.seeds))})")
  for run in runs:
    if run.name in keep:
      while run.parent is not None:
        keep.add(run.parent.name)
        run = run.parent
  return [r for r in runs if r.name in keep]


ONLY_KEYS = ("variant", "task", "seed")


def parse_only(only: str | Iterable[str] | None) -> dict[str, set[str]]:
  """'variant=dense,seed=0' (or a list of such strings) -> {'variant': {'dense'}, 'seed': {'0'}}."""
  if not only:
    return {}
  items = [only] if isinstance(only, str) else list(only)
  filters: dict[str, set[str]] = {}
  for item in (part for text in items for part in text.split(",") if part.strip()):
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or key not in ONLY_KEYS:
      raise ValueError(f"--only takes {'|'.join(ONLY_KEYS)}=VALUE filters, got '{item}'")
    filters.setdefault(key, set()).add(value.strip())
  return filters


def _matches(run: Run, filters: dict[str, set[str]]) -> bool:
  values = {"variant": run.variant, "task": run.task.name, "seed": str(run.seed)}
  return all(values[k] in allowed for k, allowed in filters.items())


# --------------------------------------------------------------------------------------------------
# Resolved configs: what a run will train (its num_steps, its vocabulary size).
# --------------------------------------------------------------------------------------------------

def resolve_config(run: Run, repo: str):
  """The config `synth train` will build for `run` (the file, its arguments, the overrides),
  read by the same loader (synth.config.load_config)."""
  path = os.path.join(repo, run.task.config)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"task '{run.task.name}': config file {path} does not exist")
  args = ",".join(f"{k}={v}" for k, v in run.config_args().items())
  try:
    return load_config(f"{path}:{args}" if args else path, run.overrides())
  except ConfigError as e:
    raise ValueError(f"task '{run.task.name}': {e}") from None


def shared_vocab_path(run: Run, config) -> str | None:
  """The per-task SentencePiece model this run shares, or None to keep the config's own."""
  if run.parent is not None or not run.task.share_vocab or config.data.vocab_path:
    return None
  pieces = spm_vocab_size(config)
  return join(run.root, run.table, run.task.name, "vocab", f"spm_{pieces}.model")


@dataclasses.dataclass(frozen=True)
class RunPlan:
  """What the sweep runs for one Run: `synth` argument lists (after the program name)."""
  run: Run
  num_steps: int
  vocab_path: str
  train: list[str]
  evals: list[list[str]]


def plan(run: Run, repo: str, extra_overrides: dict | None = None) -> RunPlan:
  """The train and eval arguments of `run`, checked against its config file.

  The vocabulary: shared per task (Task.share_vocab), a fine-tune's parent's (wherever the
  parent's lives), or the config's own (cached in the workdir when unset).
  """
  config = resolve_config(run, repo)
  overrides = {**run.overrides(), **(extra_overrides or {})}
  shared = shared_vocab_path(run, config)
  pieces = spm_vocab_size(config)
  if run.parent is not None:
    vocab = plan(run.parent, repo).vocab_path
    overrides["data.vocab_path"] = vocab
  elif shared:
    vocab = overrides["data.vocab_path"] = shared
  else:
    vocab = config.data.vocab_path or join(run.workdir, "vocab", f"spm_{pieces}.model")
  train = ["train", f"--config={run.config_spec()}", f"--workdir={run.workdir}",
           *override_flags(overrides)]
  evals = [["eval", f"--workdir={run.workdir}", f"--checkpoint={run.task.checkpoint}",
            f"--split={split}"] for split in run.task.eval_splits]
  return RunPlan(run, int(config.train.num_steps), vocab, train, evals)


def synth_args(args: list[str], python: str = sys.executable) -> list[str]:
  """`python -m synth.main ARGS`: an argument list for subprocess, never a shell string."""
  return [python, "-m", "synth.main", *args]
