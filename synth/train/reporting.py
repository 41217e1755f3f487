"""Where training metrics go: TensorBoard, <workdir>/metrics.jsonl, and the console.

Only process 0 writes files and prints; every process computes the same metrics. Console lines
go to stdout through `say` rather than absl logging, so they stay readable while the libraries'
INFO logs (Orbax logs every save in detail) are off by default (`--verbosity=0` shows them).
"""
import math
import time

import jax
from etils import epath

from synth.run_files import append_jsonl
from synth.summary_writer import SummaryWriter


def say(message: str, *args) -> None:
  """Prints a timestamped line on process 0."""
  if jax.process_index() == 0:
    print(time.strftime("%H:%M:%S ") + (message % args if args else message), flush=True)


class Reporter:
  """Writes scalar metrics to TensorBoard and metrics.jsonl, and logs a progress line.

  Not clu.periodic_actions.ReportProgress: it puts its steps/s and ETA line in an XManager work
  unit's notes and writes steps_per_sec through a clu MetricWriter (whose TensorBoard writer
  needs TensorFlow); it prints nothing. Here the line goes to stdout, with the loss, learning
  rate and tokens/s beside steps/s."""

  def __init__(self, workdir: str, num_steps: int, start_step: int):
    self.primary = jax.process_index() == 0
    self.writer = SummaryWriter(workdir)
    self.jsonl_path = epath.Path(workdir) / "metrics.jsonl"
    self.num_steps = num_steps
    self.start_time = time.time()
    self.start_step = start_step

  def write(self, step: int, metrics: dict, *, prefix: str = ""):
    """Writes {name: float} at `step`; names get `prefix` (e.g. 'eval/') in TensorBoard/JSONL."""
    scalars = {f"{prefix}{k}": float(v) for k, v in metrics.items()}
    self.writer.write_scalars(step, scalars)
    if self.primary:
      append_jsonl(self.jsonl_path, [{"step": int(step), **scalars}])

  def progress(self, step: int, metrics: dict):
    """One human-readable line: loss, steps/s, tokens/s and ETA."""
    elapsed = time.time() - self.start_time
    done = step - self.start_step
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (self.num_steps - step) / rate if rate > 0 else math.inf
    say("step %d/%d  loss %.4f  lr %.3g  %.2f steps/s  %.0f tokens/s  ETA %s", step,
                 self.num_steps, metrics["loss"], metrics["learning_rate"], rate,
                 metrics.get("tokens_per_s", 0.0), _duration(eta))

  def close(self):
    self.writer.flush()
    self.writer.close()


class Progress:
  """A progress line (count, rate, ETA) for long loops outside the train loop, such as beam
  search over a whole test split, which can take hours with no other sign of life.

  A line at most every `every_s` seconds, and a last one when the loop ends if any was printed,
  so loops shorter than `every_s` stay silent.
  """

  def __init__(self, what: str, total: int, every_s: float = 30.0, clock=time.time):
    self.what, self.total, self.every_s, self.clock = what, total, every_s, clock
    self.start = self.last = clock()
    self.printed = False

  def update(self, done: int) -> None:
    now = self.clock()
    finished = done >= self.total
    if now - self.last < self.every_s and not (finished and self.printed):
      return
    elapsed = max(now - self.start, 1e-9)
    rate = done / elapsed
    eta = (self.total - done) / rate if rate > 0 else math.inf
    say("%s: %d/%d, %.1f/s, %s %s", self.what, done, self.total, rate,
        "took" if finished else "ETA", _duration(elapsed if finished else eta))
    self.last, self.printed = now, True


def _duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
