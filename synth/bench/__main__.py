"""`python -m synth.bench ...`: the benchmark without the `synth` console script."""
import sys

from synth.bench.cli import main

sys.exit(main(sys.argv[1:]))
