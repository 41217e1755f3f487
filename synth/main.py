"""The `synth` command line: `synth <command> [flags]`; `synth --help` lists the commands.

train, eval, decode and export follow the JAX ecosystem convention (absl flags + ml_collections config
files): any config field can be overridden with `--config.section.field=value`; an unknown field,
a bad value or an invalid combination is a one-line error before any work starts and before the
workdir is touched. eval and decode read the run's resolved config from <workdir>/config.json;
pass --config (and overrides such as --config.eval.beam_size=1) to change it. bench, sweep,
results and data take no config file and parse their own flags (argparse), in the same
`--name=value` style with underscores.

Every failure is one `synth: error: ...` line on stderr (synth.errors): exit status 2 for an
input to fix, 1 for a run that failed; SYNTH_TRACEBACK=1 shows the traceback instead.
"""
import os
import runpy
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from synth.errors import (LIBRARY_ECHOES, TRACEBACK_ENV, error_line, exit_code,
                          is_storage_failure)

# Every command, with the line `synth --help` shows for it.
COMMANDS = {
    "train": "train a config in a workdir, resuming from its latest checkpoint",
    "eval": "score a workdir's checkpoints (latest, all, best or a step) on a split",
    "decode": "decode text with a workdir's checkpoint, one output line per input line",
    "export": "write a checkpoint as a directory synth.load reads without the workdir",
    "inspect": "draw a checkpoint's attention maps (and mixture weights) for some texts",
    "bench": "time every attention variant side by side (train step or cached decoding)",
    "sweep": "train and evaluate every unfinished run of a paper table (experiments/*.py)",
    "results": "collect a paper table's runs into markdown, CSV and plots",
    "data": "prepare the offline corpora once: synth data prepare offline",
}
# The commands that take a config (absl flags), each with its flags in the order --help lists them.
CONFIG_COMMANDS = {
    "train": ("config", "workdir"),
    "eval": ("workdir", "checkpoint", "split", "config"),
    "decode": ("workdir", "input", "output", "checkpoint", "config"),
    "export": ("workdir", "out", "checkpoint"),
    "inspect": ("workdir", "input", "examples", "out", "checkpoint", "attention", "layers",
                "heads"),
}

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file (configs/*.py), optionally with ':key=value,...' arguments; "
    "configs/<file>.py also finds the files shipped with the package.", lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "The run's directory: checkpoints, logs, metrics and its config.json.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", "latest", "Which checkpoints: latest, all (eval only), best (by the trainer's "
    "periodic eval; eval only) or a step.")
_SPLIT = flags.DEFINE_string("split", "validation", "The split to score: validation or test.")
_INPUT = flags.DEFINE_string("input", None, "A text file, one input per line; - reads stdin.")
_OUTPUT = flags.DEFINE_string("output", None, "Where to write the outputs (default: stdout).")
_OUT = flags.DEFINE_string("out", None, "The directory to write (export: new, or empty).")
_ATTENTION = flags.DEFINE_string(
    "attention", "all", "Which attention to draw: all, or e.g. decoder/self,decoder/cross.")
_LAYERS = flags.DEFINE_list("layers", None, "Which layers to draw (default: all), e.g. 0,2.")
_HEADS = flags.DEFINE_list("heads", None, "Which heads to draw (default: all), e.g. 1,3.")
_EXAMPLES = flags.DEFINE_integer(
    "examples", None, "Instead of --input: the first N examples of the validation split (each "
    "cut to model.max_len tokens).")


def _fail(message: str, code: int = 2) -> None:
  echoes = LIBRARY_ECHOES.count
  more = (f" ({echoes} more errors inside library threads; {TRACEBACK_ENV}=1 shows them)"
          if echoes else "")
  print(f"synth: error: {message}{more}", file=sys.stderr)
  sys.exit(code)


def main(argv):
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # Our progress goes to stdout; library INFO is noise.
  command = argv[1]
  if len(argv) > 2:
    _fail(f"{command} takes only --flags, got '{' '.join(argv[2:])}' (synth {command} --help)")
  if not _WORKDIR.value:
    _fail("--workdir is required")
  config = _CONFIG.value
  if config is None:
    if command == "train":
      _fail("--config is required")
    from synth.run_files import load_run_config
    try:
      config = load_run_config(_WORKDIR.value)
    except FileNotFoundError as e:
      _fail(str(e))
  if command == "decode" and not _INPUT.value:
    _fail("decode needs --input=FILE (or - for stdin)")
  if command == "export" and not _OUT.value:
    _fail("export needs --out=DIR (a new or empty directory)")
  if command == "inspect" and not ((_INPUT.value is None) != (_EXAMPLES.value is None)
                                   and _OUT.value):
    _fail("inspect needs --out=DIR and either --input=FILE (or - for stdin; one text per line) "
          "or --examples=N")

  # Imported after flag parsing so `synth --help` and flag errors are instant.
  from synth.config import ConfigError, validate_config
  try:
    validate_config(config)
  except ConfigError as e:
    _fail(str(e))

  from synth.parallel.distributed import maybe_initialize_distributed
  maybe_initialize_distributed()
  if command == "train":
    _train(config)
  elif command == "eval":
    _eval(config)
  elif command == "export":
    _export()
  elif command == "inspect":
    _inspect(config)
  else:
    _decode(config)


def _one_checkpoint(command: str) -> str:
  """--checkpoint for the commands that read one checkpoint: latest or a step."""
  if _CHECKPOINT.value != "latest" and not _CHECKPOINT.value.isdigit():
    _fail(f"{command} --checkpoint must be latest or a step, got '{_CHECKPOINT.value}'")
  return _CHECKPOINT.value


def _export():
  from synth.export import export_run
  from synth.train.checkpoints import CheckpointError
  _one_checkpoint("export")
  try:
    record = export_run(_WORKDIR.value, _OUT.value, _CHECKPOINT.value)
  except (CheckpointError, ValueError) as e:
    _fail(error_line(e, expected=True))
  print(f"exported step {record['step']} of {_WORKDIR.value} to {_OUT.value}", flush=True)


def _inspect(config):
  from synth.api import load
  from synth.inspect import inspect_run
  from synth.train.checkpoints import CheckpointError, Checkpoints
  _one_checkpoint("inspect")
  texts = None
  if _INPUT.value == "-":
    texts = [line.rstrip("\n") for line in sys.stdin]
  elif _INPUT.value is not None:
    if not os.path.isfile(_INPUT.value):
      _fail(f"--input {_INPUT.value} does not exist")
    with open(_INPUT.value) as f:
      texts = [line.rstrip("\n") for line in f]
  try:
    run = load(_WORKDIR.value, _CHECKPOINT.value, config=config)
    from synth.inspect import eval_texts
    texts = ([t for t in texts if t.strip()] if texts is not None
             else eval_texts(run, _EXAMPLES.value))

    def every_checkpoint():
      steps = Checkpoints(_WORKDIR.value, read_only=True)
      try:
        all_steps = steps.all_steps()
      finally:
        steps.close()
      return [load(_WORKDIR.value, s, config=config) for s in all_steps]

    indices = {}
    for name, flag in (("layers", _LAYERS), ("heads", _HEADS)):
      if flag.value and not all(v.strip().isdigit() for v in flag.value):
        _fail(f"--{name} takes comma-separated indices, got '{','.join(flag.value)}'")
      indices[name] = [int(v) for v in flag.value] if flag.value else None
    shown = inspect_run(run, texts, _OUT.value, steps_for_alphas=every_checkpoint,
                        attention=_ATTENTION.value, truncate=_EXAMPLES.value is not None,
                        **indices)
  except (CheckpointError, ValueError) as e:
    _fail(error_line(e, expected=True))
  for name in sorted(shown):
    print(os.path.join(_OUT.value, f"{name}.png"), flush=True)


def _train(config):
  """Runs the trainer; every failure is one line (run() turns them into it), not a traceback."""
  from synth.data.offline.sources import NotPreparedError
  from synth.train.checkpoints import CheckpointError
  from synth.train.trainer import NonFiniteLossError, train
  from synth.train.workdir import WorkdirLockedError
  try:
    train(config, _WORKDIR.value)
  except (CheckpointError, NotPreparedError, WorkdirLockedError) as e:
    _fail(error_line(e, expected=True), code=1 if is_storage_failure(e) else 2)
  except NonFiniteLossError as e:  # not a usage error: the run diverged
    _fail(str(e).splitlines()[0], code=1)


def _eval(config):
  from synth.eval.evaluate import evaluate_checkpoints
  from synth.train.checkpoints import CheckpointError
  try:
    rows, errors = evaluate_checkpoints(config, _WORKDIR.value, which=_CHECKPOINT.value,
                                        split=_SPLIT.value)
  except (CheckpointError, ValueError) as e:
    _fail(str(e).splitlines()[0])
  for row in rows:
    shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()
             if k not in ("config_hash", "time")}
    print(" ".join(f"{k}={v}" for k, v in shown.items()), flush=True)
  for error in errors:
    print(f"synth: error: {error}", file=sys.stderr)
  if errors:
    sys.exit(1)


def _decode(config):
  from etils import epath

  from synth.eval.decode_text import decode_file
  from synth.train.checkpoints import CheckpointError
  step = _one_checkpoint("decode")
  step = None if step == "latest" else step
  try:
    if _OUTPUT.value:
      with epath.Path(_OUTPUT.value).open("w") as out:  # gs:// too
        decode_file(config, _WORKDIR.value, _INPUT.value, out,
                    step=None if step is None else int(step))
    else:
      decode_file(config, _WORKDIR.value, _INPUT.value,
                  step=None if step is None else int(step))
  except (CheckpointError, FileNotFoundError, ValueError) as e:
    _fail(str(e).splitlines()[0])


def _config_spec(argv) -> tuple[int, str] | None:
  """(index in argv, value) of the --config flag, if given."""
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      return i, arg[len("--config="):]
    if arg == "--config" and i + 1 < len(argv):
      return i + 1, argv[i + 1]
  return None


def _check_config_args(argv) -> list[str]:
  """Loads the --config file once up front to turn its failures into one-line errors; returns
  argv with the config path resolved (configs/x.py may name a file shipped with the package).

  ml_collections loads config files lazily and reports an unknown --config.a.b override as a bare
  KeyError; here a missing file, a bad `file.py:key=value` argument and an override naming a
  field the config does not have each get a message that says what is wrong.
  """
  from synth import shipped_files
  from synth.config import ConfigError
  found = _config_spec(argv)
  if found is None:
    return argv
  index, spec = found
  path, sep, arg = spec.partition(":")
  path = shipped_files.resolve(path)
  if not os.path.isfile(path):
    _fail(shipped_files.missing_message("config", spec.partition(":")[0]))
  argv = list(argv)
  argv[index] = (argv[index][:-len(spec)] if argv[index].endswith(spec) else "") + path + sep + arg
  try:
    get_config = runpy.run_path(path)["get_config"]
    config = get_config(arg) if arg else get_config()
  except ConfigError as e:
    _fail(f"{path}: {e}")
  except KeyError:
    _fail(f"config file '{path}' defines no get_config()")
  except SyntaxError as e:
    _fail(f"{path}:{e.lineno}: {e.msg}: fix the config file")
  for a in argv:
    if a.startswith("--config."):
      field = a[len("--config."):].split("=", 1)[0]
      node = config
      for part in field.split("."):
        if not hasattr(node, "keys") or part not in node:
          _fail(f"unknown config field '{field}' (from {a.split('=', 1)[0]}); see "
                f"synth/config.py for the fields")
        node = node[part]
  return argv


def _parse_flags(argv):
  """absl flag parsing whose every failure is one line on stderr and exit status 2."""
  argv = _check_config_args(argv)
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    _fail(str(e).strip().splitlines()[0])


def usage() -> str:
  """What `synth --help` prints: every command with one line."""
  width = max(map(len, COMMANDS))
  lines = ["usage: synth <command> [--flag=value ...]", "",
           "Synthesizer attention (Tay et al., ICML 2021): train, evaluate, sweep and benchmark.",
           "", "commands:"]
  lines += [f"  {name:<{width}}  {summary}" for name, summary in COMMANDS.items()]
  lines += ["", "`synth <command> --help` lists a command's flags. train, eval and decode take",
            "--config=FILE.py[:k=v,...] and --config.section.field=value overrides (every field",
            "is documented in synth/config.py); `python -m synth` is the same command."]
  return "\n".join(lines)


def command_usage(command: str) -> str:
  """What `synth train|eval|decode --help` prints: the command's own flags with their help."""
  shown = {"config": "FILE.py[:k=v,...]", "workdir": "DIR", "checkpoint": "WHICH",
           "split": "SPLIT", "input": "FILE|-", "output": "FILE", "out": "DIR",
           "attention": "STACKS", "layers": "I,J", "heads": "I,J", "examples": "N"}
  names = CONFIG_COMMANDS[command]
  required = {"train": ("config", "workdir"), "eval": ("workdir",),
              "decode": ("workdir", "input"), "export": ("workdir", "out"),
              "inspect": ("workdir", "out")}[command]
  head = " ".join(f"--{n}={shown[n]}" if n in required else f"[--{n}={shown[n]}]" for n in names)
  rows = [(f"--{n}={shown[n]}", flags.FLAGS[n].help + (
      f" (default: {flags.FLAGS[n].default})" if flags.FLAGS[n].default else ""))
          for n in names]
  rows += [("--config.SECTION.FIELD=VALUE", "override one config field, e.g. "
            "--config.train.num_steps=100 (repeatable)"),
           ("--verbosity=N", "library log level: 0 shows INFO logs (default: warnings only)")]
  width = max(len(flag) for flag, _ in rows)
  return "\n".join([f"usage: synth {command} {head} [--config.SECTION.FIELD=VALUE ...]", "",
                    COMMANDS[command], "", "flags:",
                    *(f"  {flag:<{width}}  {text}" for flag, text in rows)])


def _data_main(rest: list[str]) -> int:
  from synth.data.offline.__main__ import main as data_main
  if rest[:2] == ["prepare", "offline"]:
    return data_main(["prepare", *rest[2:]], prepare_prog="synth data prepare offline")
  if rest[-1:] in (["--help"], ["-h"]) or not rest:
    return data_main(["prepare", "--help"], prepare_prog="synth data prepare offline")
  _fail(f"unknown data command '{' '.join(rest)}': the one data command is "
        "`synth data prepare offline [--data_dir=DIR] [--only=ende,enfr,sentiment] [--force]`")


def _own_command_line(command: str, rest: list[str]) -> int | None:
  """Runs the commands with command lines of their own; None for the absl/config commands."""
  if command == "bench":
    from synth.bench.cli import main as bench_main
    return bench_main(rest)
  if command in ("sweep", "results"):
    from synth.sweep import cli
    return (cli.sweep_main if command == "sweep" else cli.results_main)(rest)
  if command == "data":
    return _data_main(rest)
  return None


def run(argv: list[str] | None = None):
  """Console-script entry point (also `python -m synth`): every failure is one `synth: error:`
  line and a non-zero exit status; SYNTH_TRACEBACK=1 shows the traceback instead."""
  if not os.environ.get(TRACEBACK_ENV):
    LIBRARY_ECHOES.install()
  try:
    _run(argv)
  except KeyboardInterrupt:
    if os.environ.get(TRACEBACK_ENV):
      raise
    _fail("interrupted", code=130)
  except BrokenPipeError:  # the reader went away (`synth ... | head`): stop quietly, as cat does
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(141)
  except Exception as e:  # SystemExit (every deliberate exit) passes through
    if os.environ.get(TRACEBACK_ENV):
      raise
    _fail(error_line(e), code=exit_code(e))


def _run(argv: list[str] | None) -> None:
  argv = list(sys.argv if argv is None else argv)
  command, rest = (argv[1], argv[2:]) if len(argv) > 1 else (None, [])
  if command in ("-h", "--help", "help") and not rest:
    print(usage())
    sys.exit(0)
  if command == "help":  # `synth help train` is `synth train --help`
    command, rest = rest[0], ["--help"]
  if command is None:
    print(usage(), file=sys.stderr)
    sys.exit(2)
  if command not in COMMANDS:
    _fail(f"unknown command '{command}'; the commands are {', '.join(COMMANDS)} "
          "(synth --help says what each does)")
  if command == "train":  # a SIGTERM from here on ends the run through its clean path
    from synth.train.preemption import install_early
    install_early()
  status = _own_command_line(command, rest)
  if status is not None:
    sys.exit(status)
  if any(a in ("-h", "--help") for a in rest):
    print(command_usage(command))
    sys.exit(0)
  app.run(main, argv=[argv[0], command, *rest], flags_parser=_parse_flags)


if __name__ == "__main__":
  run()
