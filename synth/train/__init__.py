"""Training: optimizer and schedules, losses, state, jitted steps, the loop and checkpoints.

Import the submodules directly (e.g. `from synth.train import optimizer`); this package imports
nothing itself so light users do not pay for the heavy ones.
"""
