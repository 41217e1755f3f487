"""The `synth` command line: `synth <command> --config=FILE.py[:k=v,...] --workdir=DIR`.

Flags follow the JAX ecosystem convention (absl flags + ml_collections config files): any config
field can be overridden with `--config.section.field=value`; an unknown field, a bad value or an
invalid combination is a one-line error before any work starts and before the workdir is touched.

Commands:
  train   train a config in a workdir, resuming from its latest checkpoint if there is one
  eval    score checkpoints of a workdir: --checkpoint=latest|all|best|<step> --split=...
  decode  decode text with a workdir's checkpoint: --input=FILE|- [--output=FILE]

  bench   time every attention variant side by side (see `synth bench --help`)
  data    prepare data: `synth data prepare offline [--data_dir=DIR] [--only=ende,...]`
  sweep   train and evaluate a paper table's runs: `synth sweep experiments/<t>.py --root=DIR`
  results collect a table's results: `synth results experiments/<t>.py --root=DIR`

eval and decode read the run's resolved config from <workdir>/config.json; pass --config (and
overrides such as --config.eval.beam_size=1) to change it. bench and data have argparse
command lines of their own (they take no config file).
"""
import os
import runpy
import sys

from absl import app, flags, logging
from ml_collections import config_flags

COMMANDS = ("train", "eval", "decode")

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file (configs/*.py), optionally with ':key=value,...' arguments.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and metrics.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "latest",
                                  "eval/decode: latest, all, best (by periodic eval) or a step.")
_SPLIT = flags.DEFINE_string("split", "validation", "eval: the split to score.")
_INPUT = flags.DEFINE_string("input", None, "decode: a text file, one input per line; - = stdin.")
_OUTPUT = flags.DEFINE_string("output", None, "decode: where to write outputs (default stdout).")


def _fail(message: str, code: int = 2) -> None:
  print(f"synth: error: {message}", file=sys.stderr)
  sys.exit(code)


def main(argv):
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # Our progress goes to stdout; library INFO is noise.
  command = argv[1] if len(argv) > 1 else None
  if command not in COMMANDS or len(argv) > 2:
    _fail(f"usage: synth {{{','.join(COMMANDS)}}} --config=FILE.py[:k=v] --workdir=DIR "
          f"(got {' '.join(argv[1:]) or 'no command'})")
  if not _WORKDIR.value:
    _fail("--workdir is required")
  config = _CONFIG.value
  if config is None:
    if command == "train":
      _fail("--config is required")
    from synth.eval.evaluate import load_run_config
    try:
      config = load_run_config(_WORKDIR.value)
    except FileNotFoundError as e:
      _fail(str(e))
  if command == "decode" and not _INPUT.value:
    _fail("decode needs --input=FILE (or - for stdin)")

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
  else:
    _decode(config)


def _train(config):
  """Runs the trainer; the failures a user can act on are one line, not a traceback."""
  from synth.data.offline.sources import NotPreparedError
  from synth.data.tfds_tasks import DatasetNotPreparedError
  from synth.train.checkpoints import CheckpointError
  from synth.train.trainer import NonFiniteLossError, train
  try:
    train(config, _WORKDIR.value)
  except (CheckpointError, DatasetNotPreparedError, NotPreparedError) as e:
    _fail(str(e).splitlines()[0])
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
  step = None if _CHECKPOINT.value == "latest" else _CHECKPOINT.value
  if step is not None and not step.isdigit():
    _fail(f"decode --checkpoint must be latest or a step, got '{step}'")
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


def _config_spec(argv) -> str | None:
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      return arg[len("--config="):]
    if arg == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _check_config_args(argv) -> None:
  """Loads the --config file once up front to turn its failures into one-line errors.

  ml_collections loads config files lazily and reports an unknown --config.a.b override as a bare
  KeyError; here a missing file, a bad `file.py:key=value` argument and an override naming a
  field the config does not have each get a message that says what is wrong.
  """
  from synth.config import ConfigError
  spec = _config_spec(argv)
  if spec is None:
    return
  path, _, arg = spec.partition(":")
  if not os.path.isfile(path):
    _fail(f"config file '{path}' does not exist")
  try:
    get_config = runpy.run_path(path)["get_config"]
    config = get_config(arg) if arg else get_config()
  except ConfigError as e:
    _fail(f"{path}: {e}")
  except KeyError:
    _fail(f"config file '{path}' defines no get_config()")
  for a in argv:
    if a.startswith("--config."):
      field = a[len("--config."):].split("=", 1)[0]
      node = config
      for part in field.split("."):
        if not hasattr(node, "keys") or part not in node:
          _fail(f"unknown config field '{field}' (from {a.split('=', 1)[0]}); see "
                f"synth/config.py for the fields")
        node = node[part]


def _parse_flags(argv):
  """absl flag parsing whose every failure is one line on stderr and exit status 2."""
  _check_config_args(argv)
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    _fail(str(e).strip().splitlines()[0])


def _own_command_line(argv) -> int | None:
  """Runs the commands with command lines of their own; None for the absl/config commands."""
  command, rest = (argv[1], argv[2:]) if len(argv) > 1 else (None, [])
  if command == "bench":
    from synth.bench.cli import main as bench_main
    return bench_main(rest)
  if command in ("sweep", "results"):
    from synth.sweep import cli
    return (cli.sweep_main if command == "sweep" else cli.results_main)(rest)
  if command == "data":
    from synth.data.offline.__main__ import main as data_main
    if rest[:2] != ["prepare", "offline"]:
      _fail("usage: synth data prepare offline [--data_dir=DIR] [--only=ende,enfr,sentiment] "
            "[--force]")
    return data_main(["prepare", *rest[2:]])
  return None


def run():
  """Console-script entry point."""
  status = _own_command_line(sys.argv)
  if status is not None:
    sys.exit(status)
  app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
  run()
