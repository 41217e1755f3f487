"""`synth sweep` and `synth results`: the command lines over synth.sweep.sweep / results."""
import argparse
import sys


class _Parser(argparse.ArgumentParser):
  def error(self, message):
    print(f"synth: error: {self.prog.split()[-1]}: {message}", file=sys.stderr)
    sys.exit(2)


def sweep_main(argv) -> int:
  p = _Parser(prog="synth sweep", description=(
      "Train and evaluate every unfinished run of a paper table (experiments/<table>.py): "
      "finished runs are skipped, unfinished ones resume."))
  p.add_argument("experiment", help="experiments/<table>.py[:k=v,...] (arguments for files "
                 "that define get_experiment, e.g. experiments/offline_mid.py:sizing=cpu)")
  p.add_argument("--root", required=True, help="where the run workdirs go (gs:// with --tpu)")
  p.add_argument("--only", action="append", default=None,
                 help="keep runs matching key=value[,key=value] (e.g. variant=dense); repeatable")
  p.add_argument("--dry_run", action="store_true", help="print the runs and their status only")
  p.add_argument("--parallel", type=int, default=1, help="runs at once")
  p.add_argument("--tpu", default=None,
                 help="name=...,zone=...,type=v4-8[,spot=true,data_dir=gs://...]: run on Cloud "
                      "TPU VMs (prints the gcloud commands; runs them when gcloud is installed)")
  args = p.parse_args(argv)
  from synth.sweep import sweep
  try:
    outcomes = sweep(args.experiment, args.root, only=args.only, dry_run=args.dry_run,
                     parallel=args.parallel, tpu=args.tpu)
  except (ValueError, FileNotFoundError) as e:
    print(f"synth: error: sweep: {str(e).splitlines()[0]}", file=sys.stderr)
    return 2
  failed = [o for o in outcomes if o.result == "failed"]
  return 1 if failed else 0


def results_main(argv) -> int:
  p = _Parser(prog="synth results", description=(
      "Collect a paper table's eval results into markdown/CSV (mean ± std over seeds, the "
      "paper's numbers beside ours, missing runs marked) and PNG plots."))
  p.add_argument("experiment", help="experiments/<table>.py[:k=v,...] (arguments for files "
                 "that define get_experiment, e.g. experiments/offline_mid.py:sizing=cpu)")
  p.add_argument("--root", required=True, help="the sweep's root")
  p.add_argument("--out", default=None, help="output directory (default <root>/<table>/results)")
  args = p.parse_args(argv)
  from synth.sweep import results
  try:
    out = results(args.experiment, args.root, args.out)
  except (ValueError, FileNotFoundError) as e:
    print(f"synth: error: results: {str(e).splitlines()[0]}", file=sys.stderr)
    return 2
  print(out["table"])
  for kind, path in out["paths"].items():
    for one in path if isinstance(path, (list, tuple)) else [path]:
      print(f"wrote {kind}: {one}")
  return 0
