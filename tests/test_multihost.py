"""Two processes on localhost (4 CPU devices each, gloo collectives) train the tiny LM through
`synth train`, stop together when one of them gets SIGTERM (a preemption notice), resume, and end
with the parameters of one 8-device process fed the same global batches.

The processes find each other through JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES /
JAX_PROCESS_ID (synth.parallel.distributed). jax 0.10.2's default CPU collectives are already
gloo (jax._src.config DEFAULT_CPU_COLLECTIVES_IMPL); the test sets
JAX_CPU_COLLECTIVES_IMPLEMENTATION=gloo anyway so it keeps testing gloo if that default moves.
A multi-process failure aborts (SIGABRT) rather than raising, so every process is a subprocess
under a timeout and both are killed if either fails.
"""
import json
import os
import re
import signal
import socket
import subprocess
import time

import jax
import numpy as np

from synth.train import checkpoints as ckpt
from synth.train import restore
from train_helpers import REPO, synth_command, tiny_config, tiny_flags

TIMEOUT_S = 240


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def start_two_processes(vocab, overrides, workdir) -> list[subprocess.Popen]:
  """`synth train` of tiny_config(vocab, **overrides) as processes 0 and 1 of one run (4 CPU
  devices each)."""
  port = free_port()
  args = synth_command("train", "--config=configs/lm_python_docs.py", f"--workdir={workdir}",
                       *tiny_flags(vocab, **overrides))
  procs = []
  for process_id in range(2):
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo",
               JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES="2",
               JAX_PROCESS_ID=str(process_id))
    procs.append(subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True))
  return procs


def wait_for_both(procs, timeout_s: float = TIMEOUT_S) -> list[str]:
  """Both outputs once both exit 0; kills both and fails on a timeout or a failure."""
  deadline = time.time() + timeout_s
  outputs = []
  try:
    for proc in procs:
      out, _ = proc.communicate(timeout=max(1.0, deadline - time.time()))
      outputs.append(out)
  except subprocess.TimeoutExpired:
    for proc in procs:
      proc.kill()
    tails = [proc.communicate()[0][-1500:] for proc in procs]
    raise AssertionError(f"2-process training did not finish in {timeout_s:.0f} s:\n"
                         + "\n".join(f"--- process {i}:\n{t}" for i, t in enumerate(tails)))
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
  for i, (proc, out) in enumerate(zip(procs, outputs)):
    assert proc.returncode == 0, f"process {i} exited {proc.returncode}:\n{out[-3000:]}"
  return outputs


def run_two_processes(vocab, overrides, workdir) -> list[str]:
  return wait_for_both(start_two_processes(vocab, overrides, workdir))


def final_params(config, workdir):
  mesh = jax.make_mesh((8, 1, 1), ("data", "fsdp", "tensor"),
                       axis_types=(jax.sharding.AxisType.Auto,) * 3)
  _, state, _ = restore.load_checkpoint(config, workdir, mesh)
  return jax.device_get(state["params"])


def one_process_reference(config, workdir):
  """What the 2-process run computes, in this one process on its 8 devices: the trainer's init
  and train step applied to the same global batches, each the concatenation of the two
  processes' local batches (process 0's rows sit on the mesh's first 4 devices).

  A plain 1-process `synth train` would see other batches: the data pipeline shards examples by
  process (shard_index::shard_count) before shuffling and packing, so the global batch
  depends on the number of processes.
  """
  from synth.config import mesh_rules
  from synth.data.tasks import get_data
  from synth.models import ModelConfig
  from synth.parallel import batch_sharding, global_batch, make_mesh
  from synth.train.optimizer import make_optimizer
  from synth.train.state import init_state, state_layout
  from synth.train.steps import make_train_step

  model_cfg = ModelConfig.from_config(config.model)
  mesh = make_mesh(config.mesh)
  rules = mesh_rules(config)
  tx, schedule = make_optimizer(config.optimizer, num_steps=int(config.train.num_steps))
  layout = state_layout(model_cfg, tx, mesh, rules, config.seed)
  state, rngs = init_state(layout, model_cfg, tx, config.seed)
  step_fn = make_train_step(layout, tx, schedule, seed=config.seed, accum=1,
                            label_smoothing=float(config.optimizer.label_smoothing))
  shards = [get_data(config, workdir, process_index=i, process_count=2).train for i in range(2)]
  sharding = batch_sharding(mesh, rules)
  for _ in range(int(config.train.num_steps)):
    local = [next(s) for s in shards]
    batch = {k: np.concatenate([b[k] for b in local]) for k in local[0]}
    state, _ = step_fn(state, rngs, global_batch(batch, sharding))
  return jax.device_get(state["params"])


def preempt_one_of_two(vocab, overrides, workdir) -> int:
  """Starts both processes, sends SIGTERM to process 1 only once training is under way, and
  returns the one step both saved (they must agree, or the save deadlocks)."""
  procs = start_two_processes(vocab, overrides, workdir)
  metrics = os.path.join(workdir, "metrics.jsonl")
  deadline = time.time() + TIMEOUT_S
  while not (os.path.exists(metrics) and len(open(metrics).read().splitlines()) >= 3):
    if time.time() > deadline or any(p.poll() is not None for p in procs):
      for p in procs:
        p.kill()
      raise AssertionError("training did not start: " + procs[0].communicate()[0][-2000:])
    time.sleep(0.05)
  procs[1].send_signal(signal.SIGTERM)
  outputs = wait_for_both(procs, timeout_s=120)
  assert "(2 processes)" in outputs[0]
  assert not re.search(r"step \d+/\d+", outputs[1])  # only process 0 prints progress
  steps = ckpt.Checkpoints(workdir, read_only=True).all_steps()
  assert len(steps) == 1 and 3 <= steps[0] < 1000, steps  # saved at the notice, not on schedule
  return steps[0]


def test_two_processes_preempt_resume_and_match_one_process(vocab, tmp_path):
  """Preempted on one host, resumed on both, equal to one process on the same batches."""
  overrides = {"train.num_steps": 100000, "train.checkpoint_every": 1000,
               "train.eval_every": 0}
  multi = str(tmp_path / "multi")
  saved = preempt_one_of_two(vocab, overrides, multi)

  overrides["train.num_steps"] = saved + 2  # the rsqrt schedule does not depend on num_steps
  config = tiny_config(vocab, **overrides)
  second = run_two_processes(vocab, overrides, multi)
  assert f"resuming from checkpoint step {saved}" in second[0]
  assert not re.search(r"step \d+/\d+", second[1])
  assert ckpt.Checkpoints(multi, read_only=True).all_steps() == [saved, saved + 2]
  with open(os.path.join(multi, "metrics.jsonl")) as f:
    steps = [json.loads(line)["step"] for line in f if '"loss"' in line]
  assert steps == list(range(1, saved + 3))  # process 0 alone logged, each step once

  reference = one_process_reference(config, str(tmp_path / "reference"))
  trained = final_params(config, multi)
  # The same global batches, RNG and math on the same 8-device layout: only the gradient
  # all-reduce differs (gloo across processes vs in-process), and a different summation order
  # would show as float32 rounding, so the check allows 1e-6; the printed difference says
  # whether the run was in fact bitwise identical.
  worst = max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
              for x, y in zip(jax.tree.leaves(reference), jax.tree.leaves(trained)))
  print(f"{saved + 2} steps: max |one process - two processes| over all parameters: {worst:.3g}")
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=0, atol=1e-6), reference,
               trained)
