"""The training loop: one function, in sections, like big_vision's train.py.

train(config, workdir) builds the mesh, data, model state and checkpoints, resumes from the latest
complete checkpoint if there is one (parameters, optimizer, step AND data iterator position), and
trains to config.train.num_steps with periodic logging, evaluation and checkpointing. SIGTERM
(preemption) saves a checkpoint at the next step boundary and exits cleanly.
"""
import json
import time

import jax
import numpy as np
from absl import logging
from clu import parameter_overview
from etils import epath

from synth.config import mesh_rules, parse_profile_steps
from synth.data.tasks import get_data
from synth.eval.evaluate import Evaluator
from synth.models import ModelConfig
from synth.parallel import batch_sharding, global_batch, make_mesh
from synth.run_files import (append_result, config_hash, result_row, write_samples,
                             write_text_atomic)
from synth.train import checkpoints as ckpt
from synth.train.optimizer import make_optimizer
from synth.train.preemption import Preemption
from synth.train.reporting import Reporter, say
from synth.train.restore import restore_latest_intact
from synth.train.state import init_rngs, init_state, state_layout
from synth.train.workdir import (WorkdirLock, check_batch_sizes, prepare_workdir,
                                 remove_failed_start)
from synth.train.steps import make_train_step


class NonFiniteLossError(FloatingPointError):
  """The training loss became NaN or Inf."""


class _StepProfiler:
  """Traces the train steps START <= step < STOP (train.profile_steps) with jax.profiler.

  The trace goes to <workdir>/profile (TensorBoard's layout: profile/plugins/profile/<time>/
  <host>.xplane.pb), so `tensorboard --logdir <workdir>` or `xprof --logdir <workdir>/profile`
  shows it. jax.profiler traces one process (its host and local devices); only process 0 traces,
  because every process runs the same SPMD program in lock step, so one host's steps show the
  work, and traces from every host would multiply the files written for little. It starts before
  the data of the first traced step is read (data waits show up), and stops once the last traced
  step's results are ready, so the trace holds its device work. The window ends at num_steps at
  the latest; a run stopped inside it (preemption, an error) stops the trace on its way out, and
  a resumed run traces what is left of it.

  Not clu.periodic_actions.Profile: that one starts at one exact step (first_profile: a run
  resumed past it traces nothing), stops without waiting for the traced steps' device work, and
  lets an error in stopping the trace reach the training loop; a trace is diagnostics, so here
  any profiler failure is a warning.
  """

  def __init__(self, window: tuple[int, int] | None, workdir: str, num_steps: int):
    # The last traced step is at most num_steps: the final eval and checkpoint stay out of it.
    self.window = ((window[0], min(window[1], num_steps + 1))
                   if window and jax.process_index() == 0 else None)
    self.log_dir = str(epath.Path(workdir) / "profile")
    self.first = self.last = None  # the traced steps so far, while a trace is running

  def before(self, step: int) -> None:
    """Called before step `step` (numbered from 1) reads its batch."""
    if self.window and self.first is None and self.window[0] <= step < self.window[1]:
      try:
        jax.profiler.start_trace(self.log_dir)
      except Exception as e:  # A trace is diagnostics: training goes on without it.
        logging.warning("could not start the profiler trace at step %d: %s", step, e)
        self.window = None
        return
      self.first = self.last = step

  def after(self, step: int, outputs) -> None:
    """Called with step `step`'s (not yet fetched) outputs; stops after the window's last step."""
    if self.first is not None:
      self.last = step
      if step + 1 >= self.window[1]:
        self.stop(outputs)

  def stop(self, outputs=None) -> None:
    """Ends a running trace, if any; a failure to write it is logged, never fatal to the run."""
    if self.first is None:
      return
    first, self.first = self.first, None
    try:
      jax.block_until_ready(outputs)
      jax.profiler.stop_trace()
    except Exception as e:  # A trace is diagnostics: training goes on without it.
      logging.warning("could not write the profiler trace of steps %d-%d: %s", first, self.last,
                      e)
      return
    say("profiler trace of steps %d-%d in %s (view: xprof --logdir %s, or tensorboard with "
        "xprof installed)", first, self.last, self.log_dir, self.log_dir)


def write_config(config, workdir: str):
  """Writes the resolved config to workdir/config.json (process 0); logs changed fields."""
  path = epath.Path(workdir) / "config.json"
  new = json.loads(config.to_json_best_effort())
  if path.exists():
    old = json.loads(path.read_text())
    changed = sorted(k for k in _flatten(new).keys() | _flatten(old).keys()
                     if _flatten(new).get(k) != _flatten(old).get(k))
    if changed:
      logging.warning("resuming %s with changed config fields: %s", workdir, ", ".join(changed))
  if jax.process_index() == 0:
    write_text_atomic(path, json.dumps(new, indent=2, sort_keys=True))


def _flatten(d, prefix=""):
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def train(config, workdir: str, devices=None) -> dict:
  """Trains (or resumes) the run in `workdir`; returns the final eval metrics.

  `devices` restricts the mesh to a subset of devices (default: all devices of all processes).
  """
  # ----------------------------------------------------------------------------------------------
  # Config, mesh, workdir: everything that can be checked is checked before the first write.
  # ----------------------------------------------------------------------------------------------
  # SIGTERM from here to the end stops the run cleanly: during start-up before the first step,
  # in the loop after saving the next step, during shutdown by finishing it.
  preemption = Preemption()
  try:
    model_cfg = ModelConfig.for_run(config)
    mesh = make_mesh(config.mesh, devices)
    rules = mesh_rules(config)
    data_sharding = batch_sharding(mesh, rules)
    check_batch_sizes(config, data_sharding)
    created = prepare_workdir(workdir)
    lock = WorkdirLock(workdir).acquire()
  except BaseException:
    preemption.restore()
    raise
  started = False  # a start that fails before the first step removes the workdir it created

  try:
    say("mesh %s over %d devices (%d processes)", dict(mesh.shape), mesh.size,
        jax.process_count())
    # --------------------------------------------------------------------------------------------
    # Data.
    # --------------------------------------------------------------------------------------------
    data = get_data(config, workdir)
    train_iter = data.train

    # --------------------------------------------------------------------------------------------
    # Model state: restore the latest checkpoint, or initialise (optionally from another run).
    # --------------------------------------------------------------------------------------------
    num_steps = int(config.train.num_steps)
    tx, schedule = make_optimizer(config.optimizer, num_steps=num_steps)
    layout = state_layout(model_cfg, tx, mesh, rules, config.seed)
    checkpoints = ckpt.Checkpoints(workdir, keep=config.train.keep,
                                   keep_best=config.train.keep_best,
                                   best_metric=config.train.best_metric,
                                   best_mode=config.train.best_mode)
    latest, state = restore_latest_intact(checkpoints, layout, train_iter, config, workdir)
    if latest is not None:
      rngs = init_rngs(layout, model_cfg, config.seed)
    else:
      state, rngs = init_state(layout, model_cfg, tx, config.seed)
      if config.init_from:
        params = ckpt.restore_params(config.init_from, layout.abstract_state["params"])
        state = {**state, "params": params}
        say("initialised params from %s", config.init_from)
    # Written once the state is restored: a failed resume leaves the run's config.json as it was.
    write_config(config, workdir)
    start_step = int(state["step"])
    say("model: %s '%s', %s trainable parameters%s", model_cfg.kind, model_cfg.variant,
        f"{parameter_overview.count_parameters(state['params']):,}",
        f" (+{parameter_overview.count_parameters(state['frozen']):,} frozen)"
        if state["frozen"] else "")
    if jax.process_index() == 0:
      overview = parameter_overview.get_parameter_overview(state["params"], include_stats=False)
      write_text_atomic(epath.Path(workdir) / "parameters.txt", overview)

    train_step = make_train_step(layout, tx, schedule, seed=config.seed,
                                 accum=int(config.optimizer.grad_accum_steps),
                                 label_smoothing=float(config.optimizer.label_smoothing))
    evaluator = Evaluator(config, workdir, mesh, layout, data)

    def run_eval(step, final):
      # Periodically the loss; at the end also the task's metrics (decoding) and samples.
      if final:
        # The same row `synth eval` would write for this checkpoint, so sweeps need no eval process.
        metrics, samples = evaluator.evaluate(state, rngs, "validation")
        write_samples(workdir, step, "validation", samples, reporter.writer)
        append_result(workdir, result_row(step, "validation", metrics, config_hash(config),
                                          source="train"))
      else:
        metrics = evaluator.losses(state, rngs, "validation", config.train.eval_steps)
      reporter.write(step, {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
                     prefix="eval/")
      extra = "".join(f"  {k} {v:.2f}" for k, v in metrics.items()
                      if k not in ("loss", "perplexity", "tokens"))
      say("eval at step %d: loss %.4f  perplexity %.2f%s  (%d tokens)", step, metrics["loss"],
          metrics["perplexity"], extra, metrics["tokens"])
      return metrics

    # --------------------------------------------------------------------------------------------
    # The loop. Metrics are fetched one step late so the host never waits for the device.
    # --------------------------------------------------------------------------------------------
    reporter = Reporter(workdir, num_steps, start_step)
    # TensorBoard's HParams tab compares runs by their resolved config and its hash.
    reporter.writer.write_hparams({**config.to_dict(), "config_hash": config_hash(config)},
                                  metrics=("loss", "eval/loss"))
    eval_metrics = {}
    pending = None  # (step, metrics) of the step in flight
    window = {"start": time.time(), "tokens": 0.0, "steps": 0, "data_wait": 0.0}
    last_saved = latest
    profiler = _StepProfiler(parse_profile_steps(config.train.get("profile_steps", "")), workdir,
                             num_steps)

    def finish(step, metrics):
      """Host-side handling of step `step`'s metrics: NaN check, accounting, logging."""
      metrics = jax.device_get(metrics)
      if not np.isfinite(metrics["loss"]):
        raise NonFiniteLossError(
            f"training loss is {metrics['loss']} at step {step}; stopping. " + (
                f"The last good checkpoint is step {last_saved} in {workdir}/checkpoints"
                if last_saved is not None else "No checkpoint had been saved yet"))
      window["tokens"] += float(metrics["weight_sum"])
      window["steps"] += 1
      if step % config.train.log_every == 0 or step == num_steps:
        elapsed = time.time() - window["start"]
        scalars = {k: float(v) for k, v in metrics.items() if k != "weight_sum"}
        scalars.update(tokens_per_s=window["tokens"] / elapsed,
                       step_time_s=elapsed / window["steps"],
                       data_wait_fraction=window["data_wait"] / elapsed)
        reporter.write(step, scalars)
        reporter.progress(step, scalars)
        window.update(start=time.time(), tokens=0.0, steps=0, data_wait=0.0)

    started = True
    try:
      step = start_step
      while step < num_steps:
        if preemption.requested and step == start_step:
          logging.warning("SIGTERM during start-up: stopping before the first step")
          break
        profiler.before(step + 1)
        t0 = time.time()
        batch = global_batch(next(train_iter), data_sharding)
        window["data_wait"] += time.time() - t0
        state, metrics = train_step(state, rngs, batch)
        if pending is not None:
          finish(*pending)
        step += 1
        pending = (step, metrics)
        profiler.after(step, metrics)

        is_last = step == num_steps
        do_eval = is_last or (config.train.eval_every and step % config.train.eval_every == 0)
        preempted = preemption.requested or checkpoints.reached_preemption(step)
        do_save = is_last or preempted or step % config.train.checkpoint_every == 0
        if do_eval or do_save:
          finish(*pending)  # Never save or evaluate a state whose loss was not checked.
          pending = None
        if do_eval:
          eval_metrics = run_eval(step, final=is_last)
        if do_save:
          checkpoints.save(step, state, train_iter,
                           metrics={k: float(v) for k, v in eval_metrics.items()}
                           if do_eval else None)
          last_saved = step
        if preempted:
          logging.warning("preempted: saved step %d, exiting", step)
          break
      if pending is not None:
        finish(*pending)
    finally:
      profiler.stop()  # the loop ended inside the trace window: preemption or an error
      checkpoints.wait()
      checkpoints.close()
      reporter.close()
    return eval_metrics
  except BaseException:
    if created and not started:
      lock.release()
      remove_failed_start(workdir)
    raise
  finally:
    lock.release()
    preemption.restore()
