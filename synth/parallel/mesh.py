"""The device mesh a run shards over, sized from the config's `mesh` section.

The mesh always has the three axes ('data', 'fsdp', 'tensor') so logical-axis rules can name them
whatever their sizes; an axis of size 1 simply shards nothing. One axis may be -1 to take the
devices the others leave, so the same config runs on a laptop, a GPU box or a TPU pod.
"""
import math
from typing import Sequence

import jax
import numpy as np

AXES = ("data", "fsdp", "tensor")

# Flax modules trace under Auto (GSPMD-propagated) axes; jax.make_mesh's default Explicit axis
# types make them raise ShardingTypeError.
_AXIS_TYPES = (jax.sharding.AxisType.Auto,) * len(AXES)


def mesh_shape(mesh_config, num_devices: int) -> tuple[int, ...]:
  """Axis sizes for `num_devices` devices, with a -1 entry filled in."""
  sizes = [int(getattr(mesh_config, axis)) for axis in AXES]
  spec = dict(zip(AXES, sizes))
  if any(s == 0 or s < -1 for s in sizes):
    raise ValueError(f"mesh axis sizes must be positive or -1, got {spec}")
  if sizes.count(-1) > 1:
    raise ValueError(f"at most one mesh axis may be -1, got {spec}")
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if num_devices % known:
      raise ValueError(f"mesh {spec}: {num_devices} devices are not divisible by {known}")
    sizes[sizes.index(-1)] = num_devices // known
  elif known != num_devices:
    raise ValueError(f"mesh {spec} needs {known} devices but {num_devices} are present")
  return tuple(sizes)


def make_mesh(mesh_config, devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
  """A ('data', 'fsdp', 'tensor') mesh over `devices` (default: every device of every host).

  With no explicit devices jax.make_mesh picks a device order that follows the physical topology
  (matters on TPU); explicit devices (e.g. restoring onto a subset in tests) are laid out in the
  order given.
  """
  if devices is None:
    shape = mesh_shape(mesh_config, jax.device_count())
    return jax.make_mesh(shape, AXES, axis_types=_AXIS_TYPES)
  devices = list(devices)
  shape = mesh_shape(mesh_config, len(devices))
  grid = np.empty(len(devices), dtype=object)
  grid[:] = devices
  return jax.sharding.Mesh(grid.reshape(shape), AXES, axis_types=_AXIS_TYPES)
