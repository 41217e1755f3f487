"""The paper's text generation table: CNN/DailyMail summarisation (ROUGE-1/2/L) and PersonaChat
dialogue generation (BLEU-1, ROUGE-L, METEOR, CIDEr), with Transformer-base encoder-decoders
(configs/cnn_dailymail.py, configs/personachat.py).

  synth sweep experiments/text_generation.py --root=gs://BUCKET/synth --tpu=...
  synth results experiments/text_generation.py --root=gs://BUCKET/synth

The data_dir (the sweep's --tpu data_dir, or --config.data.data_dir) must hold both the prepared
TFDS cnn_dailymail and ParlAI's PersonaChat files (train_self_original.txt,
valid_self_original.txt). Summaries are scored on the test split with beam 4, length penalty
0.6; ROUGE-L is the summary-level rougeLsum usually reported for CNN/DailyMail. Dialogue is
scored on ParlAI's validation split (the paper trained on train and reported valid) with the
same beam; METEOR and CIDEr need `pip install 'synth[dialogue]'`. Each metric is an established
implementation (synth.eval.metrics says which, and how it may differ from the paper's scorer).

Paper numbers (Tay et al. 2021): on dialogue only Random + Vanilla's row was recovered (BLEU-1
14.7, ROUGE-L 14.79, METEOR 6.39, CIDEr 19.09); the others are None. Qualitatively, D+V is best
on summarisation and Dense alone on dialogue.
"""
from synth.sweep import Experiment, Metric, Task
from synth.sweep.variants import LABELS

VARIANTS = ("vanilla", "random", "dense", "dense+vanilla", "random+vanilla")
# The paper reports these rows; their numbers were not recovered.
UNKNOWN = {v: None for v in VARIANTS}


def dialogue(value: float) -> dict:
  """The paper's PersonaChat column: Random + Vanilla's recovered value, None for the rest."""
  return {**UNKNOWN, "random+vanilla": value}


EXPERIMENT = Experiment(
    name="text_generation",
    title="Text generation: CNN/DailyMail ROUGE, PersonaChat BLEU-1/ROUGE-L/METEOR/CIDEr",
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
        Task("personachat", "configs/personachat.py",
             # The paper's four dialogue metrics (the config's default, stated for the table).
             overrides={"eval.metrics": "dialogue"},
             metrics=(Metric("Dialogue BLEU-1", "bleu1", paper=dialogue(14.7)),
                      Metric("Dialogue ROUGE-L", "rougeL", paper=dialogue(14.79)),
                      Metric("Dialogue METEOR", "meteor", paper=dialogue(6.39)),
                      Metric("Dialogue CIDEr", "cider", paper=dialogue(19.09)))),
    ),
    notes="Paper (qualitative): Dense + Vanilla gives the best summarisation scores, Dense the "
          "best dialogue scores.",
)
