"""Synthetic diagnostic tasks: generated from a seed, nothing downloaded, run by every variant.

  mqar     multi-query associative recall (Zoology), decoder LM scored on the answers only:
           does the token mixer retrieve by content?
  listops  ListOps with the Long Range Arena's grammar, a 10-class encoder classifier: the one
           task where the Synthesizer and Transformer were compared on a public generator.

Each brings its own fixed symbolic vocabulary (synth.data.symbols), so no SentencePiece model is
trained, and reads its knobs from config.data.<task> (configs/mqar.py, configs/listops.py).
Splits are random-access, deterministic and disjoint by construction (common).
"""
from synth.data.diagnostics import listops, mqar  # noqa: F401  (they register tasks)
