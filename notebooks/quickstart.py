# %% [markdown]
# # synth quickstart: train, load, generate, look inside
#
# A notebook in jupytext's percent format: open it as a notebook in Jupyter (with jupytext) or
# VS Code, or run it as a script (`python notebooks/quickstart.py`); the test suite runs it.
# It trains a small language model on CPython's own docstrings (nothing is downloaded), then
# uses it from Python. `SYNTH_QUICKSTART_STEPS` and `SYNTH_QUICKSTART_DIR` shorten the run and
# choose where it goes.

# %%
import os

import ml_collections

import synth
from synth.config import load_config
from synth.inspect import inspect_run
from synth.train.trainer import train

workdir = os.environ.get("SYNTH_QUICKSTART_DIR", "workdirs/quickstart")
steps = int(os.environ.get("SYNTH_QUICKSTART_STEPS", "240"))

# %% [markdown]
# ## Train
# The README's main job (configs/lm_python_docs.py), here with `steps` steps; a second run of
# this cell resumes from the latest checkpoint instead of starting again.

# %%
# The same loader as `synth train --config=... --config.train.num_steps=...`.
config: ml_collections.ConfigDict = load_config("configs/lm_python_docs.py", {
    "train.num_steps": steps, "train.checkpoint_every": steps, "train.eval_every": steps})
metrics = train(config, workdir)
print({k: round(v, 3) for k, v in metrics.items() if isinstance(v, float)})

# %% [markdown]
# ## Load, generate, score
# `synth.load` restores the checkpoint onto whatever devices exist; `generate` decodes the way
# `synth decode` does, `score` gives each text's log-likelihood.

# %%
run = synth.load(workdir)
prompts = ["def parse(text):", "class Loader"]
for prompt, continuation in zip(prompts, run.generate(prompts, method="greedy",
                                                      max_decode_len=32)):
  print(repr(prompt), "->", repr(continuation))
print(run.score(["Return the value.", "value the Return."]))

# %% [markdown]
# ## Look inside
# One heatmap per layer and head of the attention weights of the first text.

# %%
pictures = inspect_run(run, prompts, os.path.join(workdir, "pictures"))
print(sorted(pictures))

# %%
try:
  from IPython.display import Image, display
  display(Image(os.path.join(workdir, "pictures", "decoder_self_example0.png")))
except ImportError:  # run as a plain script: the PNG is on disk
  print(os.path.join(workdir, "pictures", "decoder_self_example0.png"))
