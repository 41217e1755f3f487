"""Restoring a run's training state from its checkpoints: the trainer's resume (newest
checkpoint that reads) and the restore onto any mesh that `synth eval`, `synth decode`,
`synth inspect` and synth.load use.

It lives beside synth/train/checkpoints.py (the Orbax manager) rather than in the trainer so
that evaluation can restore a run without importing the training loop.
"""
import jax

from synth.config import mesh_rules
from synth.models import ModelConfig
from synth.train import checkpoints as ckpt
from synth.train.optimizer import make_optimizer
from synth.train.reporting import say
from synth.train.state import init_rngs, state_layout


def restore_latest_intact(checkpoints, layout, train_iter, config, workdir: str):
  """(step, state) of the newest checkpoint that restores, or (None, None) if there is none.

  A checkpoint that cannot be read (a truncated or overwritten file) is skipped with a message
  and the next older one is tried; once an older one restores, the unreadable ones are moved
  aside (<step>.corrupt), never deleted, so that the steps can be saved again. If none restores,
  nothing is moved and the newest one's error is raised: a config that no longer matches the
  checkpoints fails every one of them the same way.
  """
  skipped = []
  for step in sorted(checkpoints.all_steps(), reverse=True):
    # Saved data positions apply only to as many processes as saved them.
    reset_data = (bool(config.train.get("reset_data_on_resume", False))
                  and checkpoints.saved_process_count(step) not in (None, jax.process_count()))
    say("resuming from checkpoint step %d in %s%s", step, workdir,
        " (input pipeline restarted from its beginning: train.reset_data_on_resume)"
        if reset_data else "")
    try:
      state = checkpoints.restore(step, layout.abstract_state, None if reset_data else train_iter)
    except ckpt.UnreadableCheckpointError as e:
      say("checkpoint step %d is unreadable, trying the one before: %s", step, e.reason)
      skipped.append((step, e))
      continue
    for bad, _ in skipped:
      say("moved unreadable checkpoint step %d to %s", bad, checkpoints.set_aside(bad))
    return step, state
  if skipped:
    raise skipped[0][1]
  return None, None


def run_layout(config, mesh):
  """(model config, layout) of a run's training state on `mesh`: what its checkpoints, and
  the arrays of its export, restore into."""
  model_cfg = ModelConfig.from_config(config.model)
  tx, _ = make_optimizer(config.optimizer, num_steps=int(config.train.num_steps))
  return model_cfg, state_layout(model_cfg, tx, mesh, mesh_rules(config), config.seed)


def load_checkpoint(config, workdir: str, mesh, step: int | None = None):
  """Restores a run's checkpoint (default: latest) onto `mesh`, whatever mesh it was saved from.

  Returns (layout, state, rngs). The data iterator position is not restored.
  """
  model_cfg, layout = run_layout(config, mesh)
  checkpoints = ckpt.Checkpoints(workdir, read_only=True)
  try:
    step = checkpoints.latest_step() if step is None else step
    if step is None:
      raise ckpt.CheckpointError(f"no checkpoint in {workdir}/checkpoints")
    state = checkpoints.restore(step, layout.abstract_state)
  finally:
    checkpoints.close()
  return layout, state, init_rngs(layout, model_cfg, config.seed)
