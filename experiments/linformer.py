"""The paper's encoding-only comparison with Linformer: AG News topics and IMDb movie-review
sentiment with Transformer-base encoder classifiers (configs/ag_news.py, configs/imdb.py);
Linformer (variant 'linformer') is the baseline token mixer.

  synth sweep experiments/linformer.py --root=gs://BUCKET/synth --tpu=...
  synth results experiments/linformer.py --root=gs://BUCKET/synth

Accuracy on each dataset's test split (neither has a validation split). The paper's numbers
were not recovered; its claim is that the factorized synthesizers beat Linformer here.
"""
from synth.sweep import Experiment, Metric, Task
from synth.sweep.variants import LABELS

VARIANTS = ("vanilla", "linformer", "factorized_random", "factorized_dense", "random", "dense",
            "random+vanilla", "dense+vanilla")
# Rows in the paper whose numbers were not recovered.
UNKNOWN = {v: None for v in ("vanilla", "linformer", "factorized_random", "factorized_dense")}

EXPERIMENT = Experiment(
    name="linformer",
    title="Encoding only: Synthesizers vs Linformer (accuracy)",
    variants=VARIANTS,
    labels=LABELS,
    seeds=(0, 1, 2),
    tasks=(
        Task("ag_news", "configs/ag_news.py",
             metrics=(Metric("AG News acc", "accuracy", paper=UNKNOWN),)),
        Task("imdb", "configs/imdb.py",
             metrics=(Metric("IMDb acc", "accuracy", paper=UNKNOWN),)),
    ),
    notes="Paper (qualitative): factorized synthesizers outperform Linformer on both datasets.",
)
