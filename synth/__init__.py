"""synth: Synthesizer attention (Tay et al., ICML 2021) and the experiments around it, in JAX/Flax NNX.

`synth.load(workdir)` restores a trained run for use in Python (synth.api); it is imported on
first use, so that `import synth` (and every `synth` command's start-up) stays light.
"""

__version__ = "0.1.0"
__all__ = ["TrainedModel", "load"]


def __getattr__(name: str):
  if name in __all__:
    from synth import api
    return getattr(api, name)
  raise AttributeError(f"module 'synth' has no attribute '{name}'")
