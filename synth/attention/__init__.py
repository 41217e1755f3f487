"""Synthesizer attention variants and dot-product attention (see SYNTHESIZER.md for the math)."""
from synth.attention.core import SynthesizerAttention
from synth.attention.masks import attention_bias
from synth.attention.mixture import WEIGHTINGS
from synth.attention.registry import VARIANTS, is_length_bound, make_attention, parse_variant
from synth.attention.vanilla import CrossAttention

__all__ = ["VARIANTS", "WEIGHTINGS", "CrossAttention", "SynthesizerAttention", "attention_bias",
           "is_length_bound", "make_attention", "parse_variant"]
