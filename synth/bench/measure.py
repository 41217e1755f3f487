"""Measurements the benchmark shares: the device's matmul peak, timing and memory.

The peak that MFU divides by is measured here, on the same device and in the same process as the
steps, rather than taken from a datasheet: on a shared 2-core CPU the datasheet number says
nothing about what XLA can reach, and a measured f32 matmul is the best any model step can do.
"""
import resource
import statistics
import sys
import time

import jax
import jax.numpy as jnp


def default_matmul_size(platform: str) -> int:
  """Side of the square f32 matmul that saturates the device without taking long."""
  return 2048 if platform == "cpu" else 8192


class MatmulProbe:
  """A jitted (size x size) @ (size x size) in `dtype` on one device; run() times nothing itself.

  The benchmark runs it once per interleaved repetition as well as before and after, so the best
  matmul is drawn from the same minutes (and the same machine load) as the steps it rates. One
  probe per compute dtype: a bfloat16 step is rated against the measured bfloat16 matmul (on a
  GPU or TPU its tensor-core peak, several times the f32 one), a float32 step against float32.
  """

  def __init__(self, size: int | None = None, device=None, dtype: str = "float32"):
    device = device or jax.local_devices()[0]
    self.size = size or default_matmul_size(device.platform)
    self.dtype = dtype
    keys = jax.random.split(jax.random.key(0))
    self.a, self.b = (jax.device_put(jax.random.normal(k, (self.size, self.size),
                                                       jnp.dtype(dtype)), device) for k in keys)
    self.matmul = jax.jit(jnp.matmul)
    jax.block_until_ready(self.run())  # compile and warm up
    self.times = []

  def run(self):
    return self.matmul(self.a, self.b)

  def measure(self, repeats: int) -> None:
    for _ in range(repeats):
      self.times.append(timed(self.run)[1])

  def peak(self) -> dict:
    """Best FLOP/s so far in the probe's dtype. Best rather than median: the peak is an upper bound, and noise
    only ever makes a run slower."""
    best, typical = min(self.times), median(self.times)
    flops = 2.0 * self.size ** 3
    # The median says how loaded the machine was: far below the best means shared cores.
    return {"size": self.size, "dtype": self.dtype, "runs": len(self.times), "best_s": best,
            "flops_per_s": flops / best, "median_flops_per_s": flops / typical}


def matmul_peak(size: int | None = None, repeats: int = 5, device=None) -> dict:
  """Best f32 FLOP/s of a jitted square matmul over `repeats` timed runs (see MatmulProbe)."""
  probe = MatmulProbe(size, device)
  probe.measure(repeats)
  return probe.peak()


def timed(fn, *args):
  """(result, seconds) of fn(*args), waiting for the device to finish."""
  start = time.perf_counter()
  out = jax.block_until_ready(fn(*args))
  return out, time.perf_counter() - start


def profile(fn, log_dir: str, steps: int) -> None:
  """Traces `steps` calls of fn with jax.profiler into log_dir, each waited for as timed() waits,
  so the trace shows the steps that were timed. Writes TensorBoard's layout
  (log_dir/plugins/profile/<time>/<host>.xplane.pb) plus a perfetto_trace.json.gz beside it that
  ui.perfetto.dev opens without any install."""
  with jax.profiler.trace(log_dir, create_perfetto_trace=True):
    for _ in range(steps):
      jax.block_until_ready(fn())


def median(values) -> float:
  return float(statistics.median(values)) if values else float("nan")


def compiled_memory_bytes(compiled) -> int | None:
  """XLA's planned memory of one compiled executable: arguments + outputs + temporaries, minus
  outputs that alias donated arguments. Deterministic and per step, on every backend."""
  try:
    stats = compiled.memory_analysis()
  except Exception:  # Some backends do not implement it.
    return None
  if stats is None:
    return None
  return int(stats.argument_size_in_bytes + stats.output_size_in_bytes
             + stats.temp_size_in_bytes - stats.alias_size_in_bytes)


def compiled_flops(compiled, platform: str) -> float | None:
  """XLA's own FLOP count of a compiled executable (what it executes, masked work included).

  None on GPU: there the matmuls are cuBLAS custom calls, which XLA's cost analysis does not
  count, so its total is a small fraction of the real work.
  """
  if platform == "gpu":
    return None
  try:
    cost = compiled.cost_analysis()
  except Exception:
    return None
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  return float(cost["flops"]) if cost and "flops" in cost else None


def _max_rss_bytes() -> int:
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


class PeakMemory:
  """Peak memory of this process while the benchmark runs, from the best source available.

  `device_memory_stats`: the accelerator allocator's peak_bytes_in_use (GPU, TPU).
  `process_max_rss_delta`: growth of the process's max resident set size (CPU, where
  memory_stats() is None). Both are high-water marks of the whole process that never go down, so
  they bound the largest step of a run; per-variant numbers come from compiled_memory_bytes.
  """

  def __init__(self, device=None):
    self.device = device or jax.local_devices()[0]
    stats = self.device.memory_stats()
    self.source = "device_memory_stats" if stats else "process_max_rss_delta"
    self.start = stats.get("bytes_in_use", 0) if stats else _max_rss_bytes()

  def peak_bytes(self) -> int:
    if self.source == "device_memory_stats":
      stats = self.device.memory_stats() or {}
      return int(stats.get("peak_bytes_in_use", 0))
    return max(0, _max_rss_bytes() - self.start)
