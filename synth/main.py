"""The `synth` command line: `synth <command> [flags]`; `synth --help` lists the commands.

Every command parses its flags with argparse, in one style: `--name=value`, underscores inside
names. train, eval, decode, export and inspect take ml_collections config files (the JAX
ecosystem's convention, read by synth.config): any config field can be overridden with
`--config.section.field=value`; an unknown field, a bad value or an invalid combination is a
one-line error before any work starts and before the workdir is touched. eval, decode and
inspect read the run's resolved config from <workdir>/config.json; pass --config, or overrides
such as --config.eval.beam_size=1, to change it. bench, sweep, results and data take no config
and build their own parsers (synth/bench/cli.py, synth/sweep/cli.py, synth/data/offline).

Every failure is one `synth: error: ...` line on stderr (synth.errors): exit status 2 for an
input to fix, 1 for a run that failed; SYNTH_TRACEBACK=1 shows the traceback instead.
"""
import argparse
import os
import sys

from absl import flags as absl_flags
from absl import logging

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
# The commands that take a config, each with its flags in the order --help lists them.
CONFIG_COMMANDS = {
    "train": ("config", "workdir"),
    "eval": ("workdir", "checkpoint", "split", "config"),
    "decode": ("workdir", "input", "output", "checkpoint", "config"),
    "export": ("workdir", "out", "checkpoint"),
    "inspect": ("workdir", "input", "examples", "out", "checkpoint", "attention", "layers",
                "heads"),
}
# Which of those flags each command requires.
REQUIRED = {"train": ("config", "workdir"), "eval": ("workdir",), "decode": ("workdir", "input"),
            "export": ("workdir", "out"), "inspect": ("workdir", "out")}
# Every flag of those commands: (what its value looks like, its help, its default).
FLAGS = {
    "config": ("FILE.py[:k=v,...]", "Config file (configs/*.py), optionally with ':key=value,...' "
               "arguments; configs/<file>.py also finds the files shipped with the package.",
               None),
    "workdir": ("DIR", "The run's directory: checkpoints, logs, metrics and its config.json.",
                None),
    "checkpoint": ("WHICH", "Which checkpoints: latest, all (eval only), best (by the trainer's "
                   "periodic eval; eval only) or a step.", "latest"),
    "split": ("SPLIT", "The split to score: validation or test.", "validation"),
    "input": ("FILE|-", "A text file, one input per line; - reads stdin.", None),
    "output": ("FILE", "Where to write the outputs (default: stdout).", None),
    "out": ("DIR", "The directory to write (export: new, or empty).", None),
    "attention": ("STACKS", "Which attention to draw: all, or e.g. decoder/self,decoder/cross.",
                  "all"),
    "layers": ("I,J", "Which layers to draw (default: all), e.g. 0,2.", None),
    "heads": ("I,J", "Which heads to draw (default: all), e.g. 1,3.", None),
    "examples": ("N", "Instead of --input: the first N examples of the validation split (each "
                 "cut to model.max_len tokens).", None),
}
# Flags every config command also takes (not listed in CONFIG_COMMANDS' order).
VERBOSITY_HELP = "library log level: 0 shows INFO logs (default: warnings only)"


def _fail(message: str, code: int = 2) -> None:
  echoes = LIBRARY_ECHOES.count
  more = (f" ({echoes} more errors inside library threads; {TRACEBACK_ENV}=1 shows them)"
          if echoes else "")
  print(f"synth: error: {message}{more}", file=sys.stderr)
  sys.exit(code)


class _ArgumentParser(argparse.ArgumentParser):
  """argparse whose every failure is one `synth: error:` line and exit status 2."""

  def error(self, message):
    _fail(f"{message} ({self.prog} --help lists the flags)")


def parse_command(command: str, rest: list[str]):
  """(flags, config) of a config command's arguments; every problem is one line and exit 2.

  The --config.a.b=value overrides apply to --config's file or, without one, to the run's own
  config.json (eval, decode and inspect read that).
  """
  from synth.config import ConfigError, apply_overrides, load_config, split_override_flags
  try:
    overrides, rest = split_override_flags(rest)
  except ConfigError as e:
    _fail(str(e))
  parser = _ArgumentParser(prog=f"synth {command}", add_help=False, allow_abbrev=False)
  for name in CONFIG_COMMANDS[command]:
    parser.add_argument(f"--{name}", type=int if name == "examples" else str,
                        default=FLAGS[name][2])
  parser.add_argument("--verbosity", type=int, default=None)
  args, unknown = parser.parse_known_args(rest)
  if unknown:
    flag = [u for u in unknown if u.startswith("-")]
    _fail(f"unknown flag {flag[0].split('=')[0]} (synth {command} --help lists the flags)" if flag
          else f"{command} takes only --flags, got '{' '.join(unknown)}' (synth {command} --help)")
  for name in ("layers", "heads"):
    value = getattr(args, name, None)
    if value is not None:
      setattr(args, name, [v for v in value.split(",")])
  for name in REQUIRED[command]:
    if getattr(args, name) in (None, ""):
      _fail({"config": "--config is required", "workdir": "--workdir is required",
             "input": "decode needs --input=FILE (or - for stdin)",
             "out": f"{command} needs --out=DIR"
             + (" (a new or empty directory)" if command == "export" else "")}[name])
  try:
    if getattr(args, "config", None):
      config = load_config(args.config, overrides)
    else:
      from synth.run_files import load_run_config
      try:
        config = load_run_config(args.workdir)
      except FileNotFoundError as e:
        _fail(str(e))
      config = apply_overrides(config, overrides)
  except ConfigError as e:
    _fail(str(e))
  return args, config


def main(command: str, args, config) -> None:
  """Runs a config command after its flags and config parsed."""
  logging.set_verbosity(logging.WARNING if args.verbosity is None else args.verbosity)
  if command == "inspect" and (args.input is None) == (args.examples is None):
    _fail("inspect needs --out=DIR and either --input=FILE (or - for stdin; one text per line) "
          "or --examples=N")

  # Imported after flag parsing so `synth --help` and flag errors are instant.
  from synth.config import ConfigError
  from synth.models import ModelConfig
  try:
    ModelConfig.for_run(config)
  except ConfigError as e:
    _fail(str(e))

  from synth.parallel.distributed import maybe_initialize_distributed
  maybe_initialize_distributed()
  {"train": _train, "eval": _eval, "export": _export, "inspect": _inspect,
   "decode": _decode}[command](args, config)


def _one_checkpoint(command: str, args) -> str:
  """--checkpoint for the commands that read one checkpoint: latest or a step."""
  if args.checkpoint != "latest" and not args.checkpoint.isdigit():
    _fail(f"{command} --checkpoint must be latest or a step, got '{args.checkpoint}'")
  return args.checkpoint


def _export(args, config):
  del config  # an export is of the run as trained
  from synth.export import export_run
  from synth.train.checkpoints import CheckpointError
  _one_checkpoint("export", args)
  try:
    record = export_run(args.workdir, args.out, args.checkpoint)
  except (CheckpointError, ValueError) as e:
    _fail(error_line(e, expected=True))
  print(f"exported step {record['step']} of {args.workdir} to {args.out}", flush=True)


def _inspect(args, config):
  from synth.api import load
  from synth.inspect import inspect_run
  from synth.train.checkpoints import CheckpointError, Checkpoints
  _one_checkpoint("inspect", args)
  texts = None
  if args.input == "-":
    texts = [line.rstrip("\n") for line in sys.stdin]
  elif args.input is not None:
    if not os.path.isfile(args.input):
      _fail(f"--input {args.input} does not exist")
    with open(args.input) as f:
      texts = [line.rstrip("\n") for line in f]
  try:
    run = load(args.workdir, args.checkpoint, config=config)
    from synth.inspect import eval_texts
    texts = ([t for t in texts if t.strip()] if texts is not None
             else eval_texts(run, args.examples))

    def every_checkpoint():
      steps = Checkpoints(args.workdir, read_only=True)
      try:
        all_steps = steps.all_steps()
      finally:
        steps.close()
      return [load(args.workdir, s, config=config) for s in all_steps]

    indices = {}
    for name in ("layers", "heads"):
      values = getattr(args, name)
      if values and not all(v.strip().isdigit() for v in values):
        _fail(f"--{name} takes comma-separated indices, got '{','.join(values)}'")
      indices[name] = [int(v) for v in values] if values else None
    shown = inspect_run(run, texts, args.out, steps_for_alphas=every_checkpoint,
                        attention=args.attention, truncate=args.examples is not None,
                        **indices)
  except (CheckpointError, ValueError) as e:
    _fail(error_line(e, expected=True))
  for name in sorted(shown):
    print(os.path.join(args.out, f"{name}.png"), flush=True)


def _train(args, config):
  """Runs the trainer; every failure is one line (run() turns them into it), not a traceback."""
  from synth.data.offline.sources import NotPreparedError
  from synth.train.checkpoints import CheckpointError
  from synth.train.trainer import NonFiniteLossError, train
  from synth.train.workdir import WorkdirLockedError
  try:
    train(config, args.workdir)
  except (CheckpointError, NotPreparedError, WorkdirLockedError) as e:
    _fail(error_line(e, expected=True), code=1 if is_storage_failure(e) else 2)
  except NonFiniteLossError as e:  # not a usage error: the run diverged
    _fail(str(e).splitlines()[0], code=1)


def _eval(args, config):
  from synth.eval.evaluate import evaluate_checkpoints
  from synth.train.checkpoints import CheckpointError
  try:
    rows, errors = evaluate_checkpoints(config, args.workdir, which=args.checkpoint,
                                        split=args.split)
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


def _decode(args, config):
  from etils import epath

  from synth.eval.decode_text import decode_file
  from synth.train.checkpoints import CheckpointError
  step = _one_checkpoint("decode", args)
  step = None if step == "latest" else step
  try:
    if args.output:
      with epath.Path(args.output).open("w") as out:  # gs:// too
        decode_file(config, args.workdir, args.input, out,
                    step=None if step is None else int(step))
    else:
      decode_file(config, args.workdir, args.input,
                  step=None if step is None else int(step))
  except (CheckpointError, FileNotFoundError, ValueError) as e:
    _fail(str(e).splitlines()[0])


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
  """What `synth train|eval|decode|export|inspect --help` prints: the command's flags."""
  names, required = CONFIG_COMMANDS[command], REQUIRED[command]
  head = " ".join(f"--{n}={FLAGS[n][0]}" if n in required else f"[--{n}={FLAGS[n][0]}]"
                  for n in names)
  rows = [(f"--{n}={FLAGS[n][0]}", FLAGS[n][1] + (f" (default: {FLAGS[n][2]})"
                                                 if FLAGS[n][2] else "")) for n in names]
  rows += [("--config.SECTION.FIELD=VALUE", "override one config field, e.g. "
            "--config.train.num_steps=100 (repeatable)"),
           ("--verbosity=N", VERBOSITY_HELP)]
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
  """Runs the commands with command lines of their own; None for the config commands."""
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
  # The libraries log through absl, which expects its flags parsed: synth defines none of them.
  absl_flags.FLAGS.mark_as_parsed()
  args, config = parse_command(command, rest)
  main(command, args, config)


if __name__ == "__main__":
  run()
