"""Tests of synth.eval.metrics and synth.eval.glue against sacrebleu, an independent
re-implementation of T2T's tokenised BLEU, and values worked out by hand."""
import collections
import math

import pytest
import regex
import sacrebleu

from synth.eval import glue
from synth.eval.metrics import bleu, rouge, tokenized_bleu

HYPOTHESES = ["The cat sat on the mat.", "It costs $3.50, doesn't it?",
              "Paris is the capital of France in 2020.", "short"]
REFERENCES = ["The cat is on the mat.", "It cost $3.50, didn't it?",
              "Paris is France's capital in 2020.", "a short one"]


def test_bleu_is_sacrebleus_corpus_bleu():
  ours = bleu(HYPOTHESES, REFERENCES)
  theirs = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES])
  assert ours.score == pytest.approx(theirs.score)
  assert "tok:13a" in ours.signature and "nrefs:1" in ours.signature
  second = [r.upper() for r in REFERENCES]
  multi = bleu(HYPOTHESES, list(zip(REFERENCES, second)))
  assert multi.score == pytest.approx(sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES, second]).score)
  assert "nrefs:2" in multi.signature
  with pytest.raises(ValueError, match="4 hypotheses but 3 references"):
    bleu(HYPOTHESES, REFERENCES[:3])


def t2t_bleu(references, hypotheses, max_order=4):
  """Tensor2Tensor's bleu_hook, re-implemented from its description: mteval-v14 international
  tokenisation, then corpus BLEU with brevity penalty and exp smoothing of zero matches."""
  def tokenize(text):
    text = regex.sub(r"([^\d])(\p{P})", r"\1 \2 ", text)
    text = regex.sub(r"(\p{P})([^\d])", r" \1 \2", text)
    text = regex.sub(r"(\p{S})", r" \1 ", text)
    return text.split()

  def ngrams(tokens):
    return collections.Counter(tuple(tokens[i:i + n]) for n in range(1, max_order + 1)
                               for i in range(len(tokens) - n + 1))

  matches, possible = [0] * max_order, [0] * max_order
  ref_len = hyp_len = 0
  for ref, hyp in zip(references, hypotheses):
    ref, hyp = tokenize(ref), tokenize(hyp)
    ref_len, hyp_len = ref_len + len(ref), hyp_len + len(hyp)
    overlap = ngrams(ref) & ngrams(hyp)
    for gram, count in overlap.items():
      matches[len(gram) - 1] += count
    for gram, count in ngrams(hyp).items():
      possible[len(gram) - 1] += count
  precisions, smooth = [], 1.0
  for m, p in zip(matches, possible):
    if m:
      precisions.append(m / p)
    else:
      smooth *= 2
      precisions.append(1.0 / (smooth * p))
  geo_mean = math.exp(sum(math.log(p) for p in precisions) / max_order)
  ratio = hyp_len / ref_len
  return 100 * geo_mean * (1.0 if ratio >= 1 else math.exp(1 - 1 / ratio))


def test_tokenized_bleu_is_t2t_bleu():
  ours = tokenized_bleu(HYPOTHESES, REFERENCES)
  assert ours.score == pytest.approx(t2t_bleu(REFERENCES, HYPOTHESES), rel=1e-9)
  assert "tok:intl" in ours.signature and "case:mixed" in ours.signature
  # Tokenisation matters: '$3.50,' splits differently from 13a's.
  assert ours.score != pytest.approx(bleu(HYPOTHESES, REFERENCES).score)
  lower = [h.lower() for h in HYPOTHESES]
  assert tokenized_bleu(lower, REFERENCES, case_sensitive=False).score == pytest.approx(
      t2t_bleu([r.lower() for r in REFERENCES], lower))


def test_rouge_hand_computed():
  # One substituted word: 5 of 6 unigrams, 3 of 5 bigrams, LCS of 5 tokens.
  scores = rouge(["the cat sat on the mat", "same words"],
                 ["the cat lay on the mat", "same words"])
  assert scores["rouge1"] == pytest.approx((100 * 5 / 6 + 100) / 2)
  assert scores["rouge2"] == pytest.approx((100 * 3 / 5 + 100) / 2)
  assert scores["rougeL"] == pytest.approx((100 * 5 / 6 + 100) / 2)
  # Sentence order: the whole-text LCS is 'a b c' (3 of 5), the summary-level union LCS finds all 5.
  swapped = rouge(["d e. a b c."], ["a b. c d e."], rouge_types=("rougeL", "rougeLsum"))
  assert swapped["rougeL"] == pytest.approx(60.0)
  assert swapped["rougeLsum"] == pytest.approx(100.0)
  with pytest.raises(ValueError, match="unknown ROUGE"):
    rouge(["a"], ["a"], rouge_types=("rouge3",))


def test_glue_metric_functions_hand_computed():
  p, t = [1, 0, 1, 1], [1, 1, 1, 0]
  assert glue.accuracy(p, t) == pytest.approx(50.0)
  assert glue.f1(p, t) == pytest.approx(100 * 4 / 6)            # tp 2, fp 1, fn 1
  assert glue.matthews_corrcoef(p, t) == pytest.approx(-100 / 3)  # (0*2 - 1*1) / sqrt(3*3*1*1)
  assert glue.matthews_corrcoef([1, 1, 0, 0, 1, 0], [1, 0, 0, 0, 1, 1]) == pytest.approx(100 / 3)
  assert glue.matthews_corrcoef([1, 1, 1], [1, 0, 1]) == 0.0    # constant prediction
  assert glue.pearson_corrcoef([1, 2, 3], [1, 2, 4]) == pytest.approx(100 * 9 / math.sqrt(84))
  assert glue.spearman_corrcoef([3, 1, 2], [1, 2, 3]) == pytest.approx(-50.0)
  # CB: per-class F1 2/3, 2/3, 0.
  assert glue.mean_f1([0, 1, 2, 0], [0, 1, 1, 2], 3) == pytest.approx(100 * 4 / 9)


def test_superglue_span_and_group_metrics_hand_computed():
  multirc = glue.score_task("super_glue", "multirc", [1, 0, 1, 0, 0], [1, 0, 0, 0, 0],
                            groups=["q1", "q1", "q1", "q2", "q2"])
  assert multirc == pytest.approx({"f1a": 100 * 2 / 3, "exact_match": 50.0})
  record = glue.score_task("super_glue", "record", ["The Eiffel Tower", "Paris, France"],
                           [["Eiffel Tower"], ["Paris", "Lyon"]])
  # 'The' is an article and ',' punctuation; 'paris france' vs 'paris': P 1/2, R 1.
  assert record == pytest.approx({"exact_match": 50.0, "f1": 100 * (1 + 2 / 3) / 2})
  with pytest.raises(ValueError, match="question id"):
    glue.score_task("super_glue", "multirc", [1], [1])


def test_every_task_has_its_metrics():
  expected = {
      "glue": {"cola": ("matthews_corrcoef",), "sst2": ("accuracy",), "mrpc": ("f1", "accuracy"),
               "stsb": ("pearson_corrcoef", "spearman_corrcoef"), "qqp": ("f1", "accuracy"),
               "mnli_matched": ("accuracy",), "mnli_mismatched": ("accuracy",),
               "qnli": ("accuracy",), "rte": ("accuracy",), "wnli": ("accuracy",)},
      "super_glue": {"boolq": ("accuracy",), "cb": ("mean_3class_f1", "accuracy"),
                     "copa": ("accuracy",), "multirc": ("f1a", "exact_match"),
                     "record": ("f1", "exact_match"), "rte": ("accuracy",),
                     "wic": ("accuracy",), "wsc": ("accuracy",)}}
  assert {b: {t: s.metrics for t, s in tasks.items()}
          for b, tasks in glue.BENCHMARKS.items()} == expected
  scores = glue.score_task("glue", "mrpc", [1, 0, 1, 1], [1, 1, 1, 0])
  assert scores == pytest.approx({"f1": 100 * 4 / 6, "accuracy": 50.0})
  assert set(glue.score_task("glue", "stsb", [1.0, 2.0, 3.5], [1.5, 2.0, 3.0])) == {
      "pearson_corrcoef", "spearman_corrcoef"}
  with pytest.raises(ValueError, match="unknown glue task 'boolq'"):
    glue.score_task("glue", "boolq", [1], [1])


def test_benchmark_averages_follow_t5():
  results = {"cola": {"matthews_corrcoef": 10}, "sst2": {"accuracy": 20},
             "mrpc": {"f1": 30, "accuracy": 50}, "stsb": {"pearson_corrcoef": 60,
                                                          "spearman_corrcoef": 80},
             "qqp": {"f1": 10, "accuracy": 30}, "mnli_matched": {"accuracy": 80},
             "mnli_mismatched": {"accuracy": 60}, "qnli": {"accuracy": 90},
             "rte": {"accuracy": 50}, "wnli": {"accuracy": 0}}
  # Groups: 10, 20, 40, 70, 20, MNLI 70, 90, 50; WNLI is not averaged.
  assert glue.benchmark_average("glue", results) == pytest.approx(370 / 8)
  super_results = {"boolq": {"accuracy": 80}, "cb": {"mean_3class_f1": 70, "accuracy": 90},
                   "copa": {"accuracy": 60}, "multirc": {"f1a": 70, "exact_match": 30},
                   "record": {"f1": 75, "exact_match": 65}, "rte": {"accuracy": 70},
                   "wic": {"accuracy": 65}, "wsc": {"accuracy": 70}}
  assert glue.benchmark_average("super_glue", super_results) == pytest.approx(
      (80 + 80 + 60 + 50 + 70 + 70 + 65 + 70) / 8)
  del results["mnli_mismatched"]
  with pytest.raises(ValueError, match="missing mnli_mismatched/accuracy"):
    glue.benchmark_average("glue", results)
