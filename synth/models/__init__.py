"""Transformer models (decoder LM, encoder-decoder, encoder classifier) with pluggable attention."""
from synth.models.config import ModelConfig
from synth.models.presets import PRESETS
from synth.models.transformer import (DecoderLM, EncoderClassifier, EncoderDecoder, make_model)

__all__ = ["DecoderLM", "EncoderClassifier", "EncoderDecoder", "ModelConfig", "PRESETS",
           "make_model"]
