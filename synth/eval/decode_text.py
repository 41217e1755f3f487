"""`synth decode`: a trained checkpoint applied to arbitrary text, one output line per input line.

A decoder LM continues each line (the line is the prompt); an encoder-decoder maps each line to
its output (a translation, a summary, a T5 target). Decoding settings come from config.eval.
Text is read and written with the run's tokenizer (synth.data.tasks.run_tokenizer): the
SentencePiece model the run trained, or the fixed vocabulary of a task that brings its own
(mqar, listops), whose lines are symbols separated by spaces.
"""
import sys
from typing import Iterable, TextIO


def decode_lines(config, workdir: str, lines: Iterable[str], *, step: int | None = None,
                 devices=None) -> list[str]:
  """Decodes each input line with the run's checkpoint (default: latest); returns the outputs.
  The decoding is synth.load(...).generate, so the command line and Python decode the same."""
  from synth.api import load
  run = load(workdir, "latest" if step is None else step, config=config, devices=devices)
  return run.generate(list(lines))


def decode_file(config, workdir: str, input_path: str, output: TextIO = sys.stdout, **kwargs):
  """Reads `input_path` ('-' = stdin), writes one decoded line per input line to `output`."""
  if input_path == "-":
    lines = sys.stdin.readlines()
  else:
    with open(input_path) as f:
      lines = f.readlines()
  for text in decode_lines(config, workdir, lines, **kwargs):
    # Every line break Python knows (also \x1c-\x1e, \u2028) becomes a space: one line out
    # per line in.
    output.write(" ".join(text.splitlines()) + "\n")
  output.flush()
