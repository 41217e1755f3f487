"""synth: Synthesizer attention (Tay et al., ICML 2021) and the experiments around it, in JAX/Flax NNX."""

__version__ = "0.1.0"
