"""The paper's MT and LM table: every variant on WMT14 En-De, WMT14 En-Fr (BLEU) and LM1B
(perplexity), Transformer-base setups as in configs/wmt14_*.py and configs/lm1b.py.

  synth sweep experiments/mt_lm.py --root=gs://BUCKET/synth --tpu=name=...,zone=...,type=v4-8,\
      data_dir=gs://BUCKET/tensorflow_datasets
  synth results experiments/mt_lm.py --root=gs://BUCKET/synth

BLEU is newstest2014 (the test split), decoded with beam 4 and length penalty 0.6, scored as the
T2T-era papers did (tokenized_bleu, see synth.eval.metrics; sacrebleu's `bleu` is in the same
eval_results.jsonl rows). LM1B perplexity is per subword token of our 32k SentencePiece
vocabulary, so it is comparable between our rows, not exactly with the paper's.
"""
from synth.sweep import Experiment, Metric, Task
from synth.sweep.variants import LABELS, PAPER_VARIANTS

# The paper's results (Tay et al. 2021, MT and LM1B); None = the row is in the paper, the number
# not recovered.
PAPER_ENDE = {"vanilla": 27.67, "fixed_random": 23.89, "random": 27.27, "factorized_random": None,
              "dense": 27.43, "factorized_dense": None, "random+dense": 27.68,
              "dense+vanilla": None, "random+vanilla": 28.47}
PAPER_ENFR = {"vanilla": 41.57, "fixed_random": 38.31, "random": 41.12, "factorized_random": None,
              "dense": 41.39, "factorized_dense": None, "random+dense": None,
              "dense+vanilla": None, "random+vanilla": 41.85}
PAPER_LM1B = {"vanilla": 38.21, "fixed_random": None, "random": 40.60, "factorized_random": 42.40,
              "dense": 40.88, "factorized_dense": None, "random+dense": None,
              "dense+vanilla": 37.27, "random+vanilla": 40.05}

EXPERIMENT = Experiment(
    name="mt_lm",
    title="Machine translation (BLEU) and language modelling (perplexity)",
    variants=PAPER_VARIANTS,
    labels=LABELS,
    seeds=(0,),
    tasks=(
        Task("wmt14_ende", "configs/wmt14_ende.py", args={"pair": "en-de"},
             metrics=(Metric("En-De BLEU", "tokenized_bleu", split="test", paper=PAPER_ENDE),)),
        Task("wmt14_enfr", "configs/wmt14_enfr.py", args={"pair": "en-fr"},
             metrics=(Metric("En-Fr BLEU", "tokenized_bleu", split="test", paper=PAPER_ENFR),)),
        Task("lm1b", "configs/lm1b.py",
             metrics=(Metric("LM1B ppl", "perplexity", higher_is_better=False,
                             paper=PAPER_LM1B),)),
    ),
    notes=("BLEU: newstest2014, beam 4, alpha 0.6, tokenized (T2T-style) BLEU. LM1B perplexity "
           "is per subword of our 32k vocabulary (the paper's tokenisation may differ)."),
)
