"""Data: the SentencePiece tokenizer, text sources by name, and grain LM pipelines.

Modules: tokenizer (SentencePiece), python_docs (the offline corpus; import the function from
the module, whose name it shares), pipeline (train/eval batches), tasks (sources by name).
"""
from synth.data.pipeline import BATCH_KEYS, EvalBatches, lm_eval_batches, lm_train_iterator
from synth.data.tasks import LMData, get_lm_data, register_source
from synth.data.tokenizer import Tokenizer, load_or_train_tokenizer
