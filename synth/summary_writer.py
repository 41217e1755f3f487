"""TensorBoard event files (scalars, text, images, hyperparameters) without TensorFlow.

The summaries and the event-file format are tensorboardX's: a maintained, pure-Python writer with
nothing but numpy and protobuf beneath it. (clu's writers need TensorFlow, and the tensorboard
package's own `tensorboard.summary.Writer` writes scalars only.) What is ours is the glue: one
writer per run directory that only process 0 opens; hyperparameters in that same directory
(tensorboardX's add_hparams would start a new run beside it); event files on gs:// through
etils.epath like every other run file; and writes made in the caller's thread. tensorboardX's
own SummaryWriter writes from a background thread that dies on a write error (a full disk), after
which every later write blocks forever on its full queue: the run hangs instead of failing. Here
a write error is raised where the write was made, and a few scalars every `log_every` steps cost
the loop nothing measurable.
"""
import json
import os
import time
from collections.abc import Mapping

import jax
import numpy as np
from etils import epath
from tensorboardX import event_file_writer, record_writer
from tensorboardX import summary as tbx_summary
from tensorboardX.proto import event_pb2

from synth.run_files import is_remote


class _RemoteEventFile:
  """An event file on cloud storage, written through etils.epath.

  Object stores cannot append, so each flush rewrites the whole object with everything written
  so far (tensorboardX's own gs:// writer does the same through google-cloud-storage; this one
  needs only the gcsfs that epath already uses). Event files are small and flushes come every
  `flush_secs`, so the rewrite stays cheap.
  """

  def __init__(self, path: str):
    self.path = epath.Path(path)
    self.data = bytearray()

  def write(self, data: bytes) -> None:
    self.data += data

  def flush(self) -> None:
    self.path.write_bytes(bytes(self.data))

  def close(self) -> None:
    self.flush()


class _RemoteEventFiles:
  """tensorboardX's writer-factory interface for one URL scheme, backed by epath."""

  def open(self, path: str) -> _RemoteEventFile:
    return _RemoteEventFile(path)

  def directory_check(self, path: str) -> None:
    del path  # object stores have no directories to create


for _scheme in ("gs", "s3"):
  record_writer.register_writer_factory(_scheme, _RemoteEventFiles())


def flat_hparams(config: Mapping, prefix: str = "") -> dict:
  """A nested config as {'model.variant': 'random', ...} of the types TensorBoard's hparams
  dashboard shows (str, bool, int, float); sequences and None become their JSON text."""
  flat = {}
  for key, value in config.items():
    name = f"{prefix}{key}"
    if hasattr(value, "items"):
      flat.update(flat_hparams(value, f"{name}."))
    elif isinstance(value, (str, bool, int, float)):
      flat[name] = value
    else:
      flat[name] = json.dumps(value if not isinstance(value, tuple) else list(value))
  return flat


class SummaryWriter:
  """Writes one run directory's TensorBoard events; on processes other than 0 it does nothing
  (every process computes the same metrics, one writes them). Events reach the disk (or the
  bucket) at least every `flush_secs` and at flush() and close()."""

  def __init__(self, logdir: str, *, flush_secs: float = 30):
    self.logdir = str(logdir)
    self.flush_secs = flush_secs
    self._events = None
    self._last_flush = time.time()
    if jax.process_index() == 0:
      if not is_remote(self.logdir):
        epath.Path(self.logdir).mkdir(parents=True, exist_ok=True)
      # The name TensorBoard expects: events.out.tfevents.<time>.<host>
      prefix = (f"{self.logdir.rstrip('/')}/events" if is_remote(self.logdir)
                else os.path.join(self.logdir, "events"))
      self._events = event_file_writer.EventsWriter(prefix)

  def _write(self, step: int, summary) -> None:
    self._events.write_event(event_pb2.Event(wall_time=time.time(), step=int(step),
                                             summary=summary))
    if time.time() - self._last_flush >= self.flush_secs:
      self.flush()

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    if self._events is not None:
      for tag, value in scalars.items():
        self._write(step, tbx_summary.scalar(tag, float(value)))

  def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
    """Text shown in TensorBoard's Text tab (rendered as markdown there)."""
    if self._events is not None:
      for tag, text in texts.items():
        self._write(step, tbx_summary.text(tag, text))

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    """Images as (height, width, channels) arrays: uint8 0..255 or floats in [0, 1]."""
    if self._events is not None:
      for tag, image in images.items():
        self._write(step, tbx_summary.image(tag, np.asarray(image), dataformats="HWC"))

  def write_hparams(self, hparams: Mapping, metrics: tuple[str, ...] = ()) -> None:
    """The run's hyperparameters for TensorBoard's HParams tab, in this run's own directory
    (so its scalars, e.g. `metrics` such as 'eval/loss', line up with them there)."""
    if self._events is not None:
      # The experiment (which hparams and metrics exist) and this run's values; tensorboardX's
      # third summary marks the session ended, which a run that is starting is not.
      experiment, session_start, _ = tbx_summary.hparams(flat_hparams(hparams),
                                                         {m: 0.0 for m in metrics})
      self._write(0, experiment)
      self._write(0, session_start)

  def flush(self) -> None:
    if self._events is not None:
      self._events.flush()
      self._last_flush = time.time()

  def close(self) -> None:
    if self._events is not None:
      events, self._events = self._events, None
      events.close()
