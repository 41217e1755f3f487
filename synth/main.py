"""The `synth` command line: `synth <command> --config=FILE.py[:k=v,...] --workdir=DIR`.

Flags follow the JAX ecosystem convention (absl flags + ml_collections config files): any config
field can be overridden with `--config.section.field=value`; an unknown field, a bad value or an
invalid combination is a one-line error before any work starts and before the workdir is touched.

Commands:
  train   train a config in a workdir, resuming from its latest checkpoint if there is one
"""
import sys

from absl import app, flags, logging
from ml_collections import config_flags

COMMANDS = ("train",)

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file (configs/*.py), optionally with ':key=value,...' arguments.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and metrics.")


def _fail(message: str) -> None:
  print(f"synth: error: {message}", file=sys.stderr)
  sys.exit(2)


def main(argv):
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # Our progress goes to stdout; library INFO is noise.
  command = argv[1] if len(argv) > 1 else None
  if command not in COMMANDS or len(argv) > 2:
    _fail(f"usage: synth {{{','.join(COMMANDS)}}} --config=FILE.py[:k=v] --workdir=DIR "
          f"(got {' '.join(argv[1:]) or 'no command'})")
  if _CONFIG.value is None:
    _fail("--config is required")
  if not _WORKDIR.value:
    _fail("--workdir is required")

  # Imported after flag parsing so `synth --help` and flag errors are instant.
  from synth.config import ConfigError, validate_config
  try:
    validate_config(_CONFIG.value)
  except ConfigError as e:
    _fail(str(e))

  from synth.parallel.distributed import maybe_initialize_distributed
  maybe_initialize_distributed()
  from synth.train.trainer import train
  train(_CONFIG.value, _WORKDIR.value)


def run():
  """Console-script entry point."""
  app.run(main)


if __name__ == "__main__":
  run()
