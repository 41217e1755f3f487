"""Runs a paper table's sweep on Cloud TPU VMs (see scripts/tpu/README.md for the recipe).

  python scripts/tpu/launch.py experiments/mt_lm.py --root=gs://BUCKET/synth \
      --name=synth-v4 --zone=us-central2-b --type=v4-8 --data_dir=gs://BUCKET/tensorflow_datasets \
      [--only=variant=random] [--parallel=N] [--project=P] [--no_spot] [--dry_run]

For each unfinished run: create the TPU (spot by default) if it is not READY, copy the committed
source to every worker and install it, run `synth train` on all workers (workdir on GCS, so a
re-created TPU resumes from the latest checkpoint), then `synth eval`; a preempted TPU is
deleted and re-created until the run is finished. --dry_run (or no gcloud here) prints the exact
commands instead. The same engine is behind `synth sweep --tpu=...`.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from synth.sweep import sweep  # noqa: E402  (after the path set-up above)
from synth.sweep.tpu import TpuTarget  # noqa: E402


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("experiment", help="experiments/<table>.py")
  parser.add_argument("--root", required=True, help="gs:// folder for the workdirs")
  parser.add_argument("--name", required=True, help="TPU VM name (suffixed -<slot> if parallel)")
  parser.add_argument("--zone", required=True)
  parser.add_argument("--type", default="v4-8", help="accelerator type, e.g. v3-8, v4-8, v4-32")
  parser.add_argument("--version", default=TpuTarget.version, help="TPU VM image")
  parser.add_argument("--project", default="")
  parser.add_argument("--data_dir", default="", help="gs:// TFDS data_dir")
  parser.add_argument("--no_spot", action="store_true", help="on-demand instead of spot")
  parser.add_argument("--only", action="append", help="e.g. variant=random (repeatable)")
  parser.add_argument("--parallel", type=int, default=1, help="TPU VMs used at once")
  parser.add_argument("--dry_run", action="store_true", help="print the commands only")
  args = parser.parse_args(argv)
  target = TpuTarget(name=args.name, zone=args.zone, accelerator_type=args.type,
                     version=args.version, project=args.project, spot=not args.no_spot,
                     data_dir=args.data_dir)
  try:
    outcomes = sweep(args.experiment, args.root, only=args.only, dry_run=args.dry_run,
                     parallel=args.parallel, tpu=target)
  except (ValueError, FileNotFoundError) as e:
    print(f"launch: error: {e}", file=sys.stderr)
    return 2
  return 1 if any(o.result == "failed" for o in outcomes) else 0


if __name__ == "__main__":
  sys.exit(main())
