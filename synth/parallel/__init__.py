"""Device mesh from the config and logical-axis -> mesh-axis sharding of parameters and batches."""
from synth.parallel.mesh import AXES, make_mesh, mesh_shape
from synth.parallel.sharding import (batch_shards, batch_sharding, global_batch,
                                     logical_to_mesh_spec, shardings_like, state_shardings)

__all__ = ["AXES", "batch_shards", "batch_sharding", "global_batch", "logical_to_mesh_spec",
           "make_mesh", "mesh_shape", "shardings_like", "state_shardings"]
