"""`python -m synth.data.offline prepare [--data_dir=DIR] [--only=ende,enfr,sentiment] [--force]`.

The same as `synth data prepare offline`, for use without the synth console script.
"""
import argparse
import sys

from synth.data.offline.corpora import CORPORA
from synth.data.offline.fetch import FetchError
from synth.data.offline.prepare import prepare_offline


def main(argv=None, prepare_prog: str = "python -m synth.data.offline prepare") -> int:
  """prepare_prog: how the prepare command is spelled in --help (`synth data prepare offline`)."""
  parser = argparse.ArgumentParser(
      prog="python -m synth.data.offline",
      description="Prepare the offline corpora (fetched once, never downloaded at run time).")
  commands = parser.add_subparsers(dest="command", required=True)
  prepare = commands.add_parser("prepare", prog=prepare_prog, help="fetch and build the corpora under the data dir")
  prepare.add_argument("--data_dir", default="",
                       help="data dir; corpora go to DIR/offline (default ~/.cache/synth/offline)")
  prepare.add_argument("--only", default="",
                       help=f"comma-separated corpora among {','.join(CORPORA)} (default all)")
  prepare.add_argument("--force", action="store_true", help="rebuild prepared corpora too")
  args = parser.parse_args(argv)
  try:
    prepare_offline(args.data_dir, args.only or None, force=args.force)
  except (FetchError, ValueError) as e:
    print(f"synth: error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
