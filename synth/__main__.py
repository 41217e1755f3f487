"""`python -m synth <command> ...`: the same command line as the `synth` console script."""
from synth.main import run

run()
