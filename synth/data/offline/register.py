"""Registers the offline corpora as tasks, so `data.source` can name them.

  offline_ende, offline_enfr  seq2seq         {'inputs': English, 'targets': German / French}
  offline_sentiment           classification  {'text': snippet, 'label': 0 rotten / 1 fresh}

A task only reads what `prepare_offline` wrote under config.data.data_dir; an unprepared corpus
is a one-line error naming `synth data prepare offline`, raised when the split is first opened.
"""
from synth.data.offline.corpora import CORPORA, Corpus
from synth.data.offline.sources import load_examples
from synth.data.registry import DataTask, register_task


def _task(corpus: Corpus) -> DataTask:
  def source(split: str, config) -> list[dict]:
    return load_examples(corpus.name, split, config.data.data_dir)
  return DataTask(name=corpus.task, kind=corpus.kind, source=source, label_names=corpus.label_names,
              description=corpus.description)


OFFLINE_TASKS = {corpus.name: register_task(_task(corpus)) for corpus in CORPORA.values()}
