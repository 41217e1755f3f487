"""Evaluation: decoding (greedy, sampling, beam search) and metrics (BLEU, ROUGE, perplexity,
GLUE/SuperGLUE)."""
