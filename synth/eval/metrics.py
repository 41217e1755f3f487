"""Generation metrics: BLEU (detokenised and T2T tokenised) and ROUGE.

Scores are on the 0-100 scale the paper's tables use. GLUE / SuperGLUE task metrics are in
synth.eval.glue.

Two BLEUs, because they answer different questions:
- `bleu`: sacrebleu's corpus BLEU on detokenised text with its defaults (13a tokenisation, cased,
  exp smoothing). This is the comparable number; its signature string says exactly how it was
  computed and belongs next to every reported score.
- `tokenized_bleu`: what Tensor2Tensor-era papers (this one included) reported: T2T's bleu_hook
  (t2t-bleu) tokenises both sides with mteval-v14's international tokenisation (split on every
  Unicode punctuation and symbol, except punctuation between digits) and computes cased corpus
  BLEU-4 with the brevity penalty and exp smoothing of zero n-gram counts. We compute it with
  sacrebleu's tokenize='intl', which implements the same tokenisation and the same smoothing, so
  the number is T2T's while the code and the signature stay sacrebleu's. The two differ only in
  corner cases: T2T's digit test is Python's \\d (decimal digits) where sacrebleu's is \\p{N} (any
  number character, e.g. superscripts), and for a corpus with no n-gram of some order at all
  (every hypothesis shorter than 4 tokens) T2T skips that order where sacrebleu scores 0.
"""
import dataclasses
import re
from typing import Sequence

import numpy as np
import sacrebleu


@dataclasses.dataclass(frozen=True)
class BleuScore:
  """A corpus BLEU (0-100) and the sacrebleu signature describing how it was computed."""
  score: float
  signature: str


def _reference_streams(references, count: int) -> list[list[str]]:
  """sacrebleu's layout (one list per reference set) from one reference per hypothesis
  (strings) or several per hypothesis (a sequence of strings each, the same number for all)."""
  if len(references) != count:
    raise ValueError(f"{count} hypotheses but {len(references)} references")
  if not count:
    raise ValueError("BLEU needs at least one hypothesis")
  if all(isinstance(r, str) for r in references):
    return [list(references)]
  sizes = {len(r) for r in references}
  if len(sizes) != 1 or any(isinstance(r, str) for r in references):
    raise ValueError("give one reference string per hypothesis, or the same number of "
                     "reference strings for every hypothesis")
  return [list(stream) for stream in zip(*references)]


def _corpus_bleu(hypotheses, references, **options) -> BleuScore:
  metric = sacrebleu.metrics.BLEU(**options)
  result = metric.corpus_score(list(hypotheses), _reference_streams(references, len(hypotheses)))
  return BleuScore(float(result.score), str(metric.get_signature()))


def bleu(hypotheses: Sequence[str], references) -> BleuScore:
  """sacrebleu corpus BLEU of detokenised text (13a tokenisation, cased, exp smoothing)."""
  return _corpus_bleu(hypotheses, references)


def tokenized_bleu(hypotheses: Sequence[str], references, *,
                   case_sensitive: bool = True) -> BleuScore:
  """T2T bleu_hook-style BLEU: international (mteval-v14) tokenisation, cased by default
  (t2t-bleu prints both; pass case_sensitive=False for its uncased one). See the module doc."""
  return _corpus_bleu(hypotheses, references, tokenize="intl", lowercase=not case_sensitive)


ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _sentences_on_lines(text: str) -> str:
  """rougeLsum reads one sentence per line; text without newlines is split after . ! or ?."""
  return text if "\n" in text else _SENTENCE_END.sub("\n", text.strip())


def rouge(predictions: Sequence[str], references: Sequence[str], *,
          rouge_types: Sequence[str] = ROUGE_TYPES, use_stemmer: bool = False) -> dict[str, float]:
  """Mean ROUGE F-measure (0-100) over examples, with Google's rouge-score package.

  rougeL is the LCS over each whole text; rougeLsum the summary-level (union) LCS over sentences,
  the ROUGE-L usually reported for CNN/DailyMail. The defaults follow T5's evaluation (no
  stemming; rouge-score's tokeniser lowercases and keeps [a-z0-9] runs); T5 averages with a
  bootstrap whose midpoint is this mean up to resampling noise.
  """
  unknown = sorted(set(rouge_types) - set(ROUGE_TYPES))
  if unknown:
    raise ValueError(f"unknown ROUGE types {unknown}; choose from {', '.join(ROUGE_TYPES)}")
  if len(predictions) != len(references):
    raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
  if not predictions:
    raise ValueError("ROUGE needs at least one prediction")
  from rouge_score import rouge_scorer  # here: it imports nltk, 0.4 s of every start-up
  scorer = rouge_scorer.RougeScorer(list(rouge_types), use_stemmer=use_stemmer)
  totals = {t: [] for t in rouge_types}
  for prediction, reference in zip(predictions, references):
    scores = scorer.score(target=_sentences_on_lines(reference),
                          prediction=_sentences_on_lines(prediction))
    for t in rouge_types:
      totals[t].append(scores[t].fmeasure)
  return {t: 100.0 * float(np.mean(v)) for t, v in totals.items()}
