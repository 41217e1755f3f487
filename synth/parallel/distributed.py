"""Multi-process start-up: jax.distributed.initialize when the run spans several hosts.

On Cloud TPU pods and SLURM/GKE clusters JAX finds the coordinator itself; elsewhere set
JAX_COORDINATOR_ADDRESS (host:port of process 0), JAX_NUM_PROCESSES and JAX_PROCESS_ID to
launch several processes by hand. A single process on one machine needs nothing and initialises nothing.
"""
import os

import jax
from absl import logging

_ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


def maybe_initialize_distributed() -> None:
  """Initialises jax.distributed if the environment describes a multi-process run."""
  explicit = any(os.environ.get(k) for k in _ENV)
  on_tpu_pod = bool(os.environ.get("TPU_WORKER_HOSTNAMES", "").count(","))
  if not (explicit or on_tpu_pod):
    return
  if explicit:
    missing = [k for k in _ENV if not os.environ.get(k)]
    if missing:
      raise ValueError(f"multi-process launch needs all of {', '.join(_ENV)}; missing "
                       f"{', '.join(missing)}")
    jax.distributed.initialize(coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
                               num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
                               process_id=int(os.environ["JAX_PROCESS_ID"]))
  else:
    jax.distributed.initialize()
  logging.info("jax.distributed: process %d of %d, %d local / %d global devices",
               jax.process_index(), jax.process_count(), jax.local_device_count(),
               jax.device_count())
