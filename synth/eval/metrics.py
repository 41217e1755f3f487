"""Generation metrics: BLEU (detokenised and T2T tokenised), ROUGE, and the dialogue metrics
(BLEU-1, ROUGE-L, METEOR, CIDEr).

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


# ------------------------------------------------------------------------------------------------
# Dialogue: the paper's PersonaChat metrics
# ------------------------------------------------------------------------------------------------
# The paper reports BLEU-1, ROUGE-L, METEOR and CIDEr, the set Maluuba's nlg-eval prints. Each is
# computed here by an established implementation; where that differs from nlg-eval's the
# docstring says how. METEOR and CIDEr score words: both sides are tokenised with sacrebleu's 13a
# tokeniser (the one `bleu` uses) and lowercased, as the COCO caption tools lowercase.

DIALOGUE_METRICS = ("bleu1", "rougeL", "meteor", "cider")


def _words(text: str) -> list[str]:
  from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
  return Tokenizer13a()(text.strip()).lower().split()


def _check_pairs(predictions, references, what: str) -> None:
  if len(predictions) != len(references):
    raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
  if not predictions:
    raise ValueError(f"{what} needs at least one prediction")


def bleu1(hypotheses: Sequence[str], references) -> BleuScore:
  """Corpus BLEU-1 (0-100): sacrebleu with max_ngram_order=1 and no smoothing, otherwise its
  defaults (13a tokenisation, cased): clipped unigram precision times the brevity penalty.
  Smoothing only changes a corpus with no matching unigram at all, which scores 0 unsmoothed.
  nlg-eval's Bleu_1 (the COCO caption code) is the same quantity, up to its tokenisation."""
  return _corpus_bleu(hypotheses, references, max_ngram_order=1, smooth_method="none")


def rouge_l(predictions: Sequence[str], references: Sequence[str]) -> float:
  """Mean ROUGE-L F1 (0-100) over examples, with rouge-score (see `rouge`). nlg-eval's ROUGE_L
  weights recall by beta 1.2 instead of F1's 1."""
  return rouge(predictions, references, rouge_types=("rougeL",))["rougeL"]


def meteor(predictions: Sequence[str], references: Sequence[str]) -> float:
  """Mean sentence METEOR (0-100) with nltk's meteor_score: exact, Porter-stem and WordNet
  synonym matches, alpha 0.9, beta 3, gamma 0.5 (Lavie & Agarwal 2007). WordNet comes from this
  machine (synth.eval.wordnet), never a download. nlg-eval runs the METEOR 1.5 jar (Java, with
  paraphrase tables) and scores the corpus as a whole, so its numbers are not these."""
  _check_pairs(predictions, references, "METEOR")
  from nltk.translate.meteor_score import meteor_score

  from synth.eval.wordnet import wordnet
  reader = wordnet()
  scores = [meteor_score([_words(r)], _words(p), wordnet=reader)
            for p, r in zip(predictions, references)]
  return 100.0 * float(np.mean(scores))


def cider(predictions: Sequence[str], references: Sequence[str]) -> float:
  """Corpus CIDEr-D with the COCO caption code (pycocoevalcap: n-grams 1-4, sigma 6, clipped
  tf-idf, idf over this corpus's references), times 100: the scale of the paper's table (its
  19.09 is nlg-eval's 0.1909). The idf makes it a corpus metric: one example alone scores 0."""
  _check_pairs(predictions, references, "CIDEr")
  try:
    from pycocoevalcap.cider.cider import Cider
  except ImportError:
    raise ImportError("CIDEr needs pycocoevalcap: pip install 'synth[dialogue]'") from None
  hypotheses = {i: [" ".join(_words(p))] for i, p in enumerate(predictions)}
  refs = {i: [" ".join(_words(r))] for i, r in enumerate(references)}
  if not any(ref[0] for ref in refs.values()):
    return 0.0  # no reference n-gram to weigh (pycocoevalcap fails on an empty idf table)
  score, _ = Cider().compute_score(refs, hypotheses)
  return 100.0 * float(score)


def dialogue(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
  """The paper's four PersonaChat metrics: {'bleu1', 'rougeL', 'meteor', 'cider'}, 0-100."""
  return {"bleu1": bleu1(predictions, references).score,
          "rougeL": rouge_l(predictions, references),
          "meteor": meteor(predictions, references),
          "cider": cider(predictions, references)}
