"""The paper's text generation table, summarisation half: CNN/DailyMail ROUGE-1/2/L with
Transformer-base encoder-decoders (configs/cnn_dailymail.py).

  synth sweep experiments/text_generation.py --root=gs://BUCKET/synth --tpu=...
  synth results experiments/text_generation.py --root=gs://BUCKET/synth

Scored on the test split with beam 4, length penalty 0.6; ROUGE-L is the summary-level rougeLsum
usually reported for CNN/DailyMail. The paper's numbers (Tay et al. 2021) were not recovered: its
qualitative result is that D+V is best on summarisation. The dialogue half (PersonaChat) has no
config here.
"""
from synth.sweep import Experiment, Metric, Task
from synth.sweep.variants import LABELS

VARIANTS = ("vanilla", "random", "dense", "dense+vanilla", "random+vanilla")
# The paper reports these rows; their numbers were not recovered.
UNKNOWN = {v: None for v in VARIANTS}

EXPERIMENT = Experiment(
    name="text_generation",
    title="Summarisation: CNN/DailyMail ROUGE",
    variants=VARIANTS,
    labels=LABELS,
    seeds=(0,),
    tasks=(
        Task("cnn_dailymail", "configs/cnn_dailymail.py",
             # ROUGE rather than the encoder-decoder default (BLEU).
             overrides={"eval.metrics": "rouge"},
             metrics=(Metric("ROUGE-1", "rouge1", split="test", paper=UNKNOWN),
                      Metric("ROUGE-2", "rouge2", split="test", paper=UNKNOWN),
                      Metric("ROUGE-L", "rougeLsum", split="test", paper=UNKNOWN))),
    ),
    notes="Paper (qualitative): Dense + Vanilla gives the best summarisation scores.",
)
