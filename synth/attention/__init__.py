"""Synthesizer attention variants and dot-product attention (the math: docs/math.md)."""
from synth.attention.core import SynthesizerAttention
from synth.attention.masks import attention_bias
from synth.attention.mixture import WEIGHTINGS
from synth.attention.registry import (TOKEN_MIXERS, VARIANTS, is_length_bound, make_attention,
                                      parse_variant, takes_relative_bias)
from synth.attention.relative import RelativePositionBias, relative_position_bucket
from synth.attention.vanilla import CrossAttention

__all__ = ["TOKEN_MIXERS", "VARIANTS", "WEIGHTINGS", "CrossAttention", "RelativePositionBias",
           "SynthesizerAttention", "attention_bias", "is_length_bound", "make_attention",
           "parse_variant", "relative_position_bucket", "takes_relative_bias"]
