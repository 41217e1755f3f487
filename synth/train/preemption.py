"""SIGTERM (preemption) handling for `synth train`, from process start to exit.

Cloud TPU and GKE send SIGTERM before taking a machine away. Python's default is to die with
exit status 143 wherever the process is, so a signal during start-up (imports, vocabulary,
compilation) or shutdown (the last save) would lose the clean path. `install_early()` records a
SIGTERM from the moment the command starts; the trainer's Preemption takes over for the run and
hands back to it at the end, so the process always exits through its own code.

With several processes every one must save the same step, but a signal may reach one host
only: a Python handler there would enter the checkpoint's collectives alone and deadlock
(tests/test_multihost.py). jax.distributed.initialize starts JAX's preemption service, which
catches SIGTERM itself and agrees on a step with the other processes, where
checkpoints.reached_preemption(step) then returns True on all of them; so with several
processes the trainer installs no handler (it would replace the service's).
"""
import signal

import jax
from absl import logging

# Set by the early handler: a SIGTERM arrived before (or after) the trainer's own handler ran.
_early = {"received": False, "installed": False}


def _record_early(signum, frame) -> None:
  del signum, frame
  _early["received"] = True


def install_early() -> None:
  """Records SIGTERM instead of dying; called first thing by `synth train`."""
  signal.signal(signal.SIGTERM, _record_early)
  _early["installed"] = True


class Preemption:
  """Records SIGTERM so the loop can save and stop at the next step boundary (one process)."""

  def __init__(self):
    self.requested = _early["received"]
    self._installed = jax.process_count() == 1
    if self._installed:
      self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del signum, frame
    logging.warning("SIGTERM received: saving a checkpoint at the next step and stopping")
    self.requested = True

  def restore(self):
    if self._installed and self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
