"""The CPU-scale table: every variant on the three offline corpora, 3 seeds, on a laptop.

  synth sweep experiments/cpu_offline.py --root=workdirs/sweeps --parallel=2
  synth results experiments/cpu_offline.py --root=workdirs/sweeps

Needs the prepared offline corpora once (`synth data prepare offline`); nothing is downloaded
while it runs. The tasks are the offline stand-ins for the paper's: language modelling on
CPython's docstrings (configs/lm_python_docs.py, for LM1B), English->German LibreOffice help
(configs/offline_ende.py, for WMT14 En-De) and Rotten Tomatoes sentiment
(configs/offline_sentiment.py, for the encoding-only tasks). Models and training are shrunk
through overrides (2 layers of width 64, 200-250 steps) so that 9 variants x 3 tasks x 3
seeds finish in under an hour on 2 CPU cores; the numbers are far from the paper's, but the
comparisons between rows are the ones the paper makes, with seed-to-seed spread to judge them by.
The paper's claims to check: Random and Dense come close to the Transformer, Fixed Random trails,
and mixtures with dot-product attention (R+V, D+V) match or beat it.
"""
from synth.sweep import Experiment, Metric, Task
from synth.sweep.variants import LABELS, PAPER_VARIANTS

# The same small model for every task: 2 layers (per stack) of width 64, 2 heads, N = 64.
SMALL = {"model.d_model": 64, "model.d_ff": 256, "model.num_heads": 2, "model.max_len": 64,
         "model.num_encoder_layers": 2, "model.num_decoder_layers": 2, "data.seq_len": 64,
         "optimizer.warmup_steps": 100, "train.log_every": 25, "train.eval_every": 0,
         "eval.num_samples": 0}
# Small models take larger steps than the configs' defaults. Measured at these sizes (seed 0,
# vanilla): LM perplexity 121 at 2e-3 vs 80 at 1e-2; En-De eval loss 5.60 at 1e-3 vs 4.84 at
# 5e-3; sentiment accuracy 63.7 at 1e-3 vs 65.6 at 5e-3.
LEARNING_RATE = {"lm_python_docs": 1e-2, "offline_ende": 5e-3, "offline_sentiment": 5e-3}
# Sized from a measured sweep (2 variants x 3 tasks, --parallel=2): about 80 CPU-seconds a run,
# half of it process start-up and compilation, so 81 runs take about 50 minutes on 2 cores.
STEPS = 250  # LM and sentiment; an En-De step costs about 3x more: 200


def _schedule(steps: int) -> dict:
  return {"train.num_steps": steps, "train.checkpoint_every": steps}


EXPERIMENT = Experiment(
    name="cpu_offline",
    title="CPU scale: all variants on the offline corpora (3 seeds)",
    variants=PAPER_VARIANTS,
    labels=LABELS,
    seeds=(0, 1, 2),
    tasks=(
        Task("lm_python_docs", "configs/lm_python_docs.py",
             overrides={**SMALL, **_schedule(STEPS), "model.vocab_size": 1000,
                        "optimizer.learning_rate": LEARNING_RATE["lm_python_docs"],
                        "data.batch_size": 16, "data.max_eval_examples": 256},
             metrics=(Metric("LM ppl", "perplexity", higher_is_better=False),)),
        Task("offline_ende", "configs/offline_ende.py",
             overrides={**SMALL, **_schedule(200), "model.vocab_size": 2000,
                        "optimizer.learning_rate": LEARNING_RATE["offline_ende"],
                        "data.batch_size": 16, "data.max_eval_examples": 128,
                        "eval.method": "greedy", "eval.max_decode_len": 64},
             metrics=(Metric("En-De loss", "loss", higher_is_better=False, digits=3),
                      Metric("En-De BLEU", "tokenized_bleu"))),
        Task("offline_sentiment", "configs/offline_sentiment.py",
             overrides={**SMALL, **_schedule(STEPS), "model.vocab_size": 2000,
                        "optimizer.learning_rate": LEARNING_RATE["offline_sentiment"],
                        "data.batch_size": 32},
             metrics=(Metric("Sentiment acc", "accuracy"),)),
    ),
    notes=("Small models trained briefly on CPU: compare rows with each other (mean ± std over "
           "3 seeds), not with the paper's numbers."),
)
