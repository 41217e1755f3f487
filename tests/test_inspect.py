"""synth inspect: every picture shows the model's actual weights, per layer and head."""
import os

import numpy as np
import pytest

import synth
from synth import inspect as inspect_lib
from synth.models.transformer import default_positions
from synth.train import trainer
from train_helpers import tiny_config

TEXTS = ["def parse(text):", "import os and sys", "class Loader(object):"]


def _trained(root, variant: str, **overrides):
  config = tiny_config(str(root / "spm_500.model"),
                       **{"model.variant": variant, "model.num_decoder_layers": 2,
                          "train.num_steps": 4, "train.checkpoint_every": 2,
                          "train.eval_every": 0, "model.dropout_rate": 0.0, **overrides})
  trainer.train(config, str(root / variant))
  return synth.load(str(root / variant))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("inspect")
  return {v: _trained(root, v) for v in ("dense", "random", "random+vanilla")}


def _layer0_weights(run, text: str) -> np.ndarray:
  """Layer 0's weights computed by hand from the model's parts: embed, norm, attention."""
  model = run.model
  tokens = np.asarray([run.tokenizer.encode(text)], np.int32)
  x = model.embedder(tokens, default_positions(tokens))
  layer = model.decoder.layers[0]
  h = layer.norms[0](x) if layer.pre_norm else x
  _, weights = layer.self_attention(h, return_weights=True)
  return np.asarray(weights)[0]


@pytest.mark.parametrize("variant", ["dense", "random", "random+vanilla"])
def test_the_pictures_show_the_layers_own_weights(runs, variant, tmp_path):
  run = runs[variant]
  shown = inspect_lib.inspect_run(run, TEXTS, str(tmp_path))
  example = shown["decoder_self_example0"]
  assert example.shape[:2] == (2, run.model_config.num_heads)  # layers x heads
  np.testing.assert_allclose(example[0], _layer0_weights(run, TEXTS[0]), atol=1e-6)
  # The property has teeth: another text's weights differ, except where nothing depends on it.
  other = _layer0_weights(run, TEXTS[2])[:, :example.shape[2], :example.shape[3]]
  if variant == "random":
    np.testing.assert_allclose(example[0], other, atol=1e-6)
  else:
    assert np.abs(example[0] - other).max() > 1e-4
  for name in shown:
    assert os.path.getsize(tmp_path / f"{name}.png") > 1000
  assert any(f.startswith("events.out.tfevents") for f in
             os.listdir(os.path.join(run.workdir, "inspect")))


def test_random_shows_softmax_r_and_dense_its_batch_mean(runs, tmp_path):
  random_shown = inspect_lib.inspect_run(runs["random"], TEXTS, str(tmp_path / "r"))
  matrix = random_shown["decoder_self_softmax_R"]
  n = matrix.shape[-1]
  assert n == runs["random"].model_config.max_len
  rows = matrix.sum(-1)
  np.testing.assert_allclose(rows, 1.0, atol=1e-5)  # each row a distribution
  assert np.allclose(np.triu(matrix[0, 0], 1), 0.0)  # causal: nothing above the diagonal
  example = random_shown["decoder_self_example0"]
  k = example.shape[-1]
  # Row i of an example attends over i + 1 keys, as row i of softmax(R) does at full length
  # only once renormalised over those keys.
  last = matrix[:, :, k - 1, :k]
  np.testing.assert_allclose(example[:, :, k - 1, :k], last / last.sum(-1, keepdims=True),
                             atol=1e-5)
  dense_shown = inspect_lib.inspect_run(runs["dense"], TEXTS, str(tmp_path / "d"))
  maps, lengths = inspect_lib.attention_maps(runs["dense"], TEXTS)
  n = min(lengths)
  np.testing.assert_allclose(dense_shown["decoder_self_mean"],
                             maps["decoder/self"][:, :, :, :n, :n].mean(axis=1), atol=1e-6)
  assert "decoder_self_softmax_R" not in dense_shown and "mixture_alpha" not in dense_shown


def test_mixture_weights_and_their_trajectory(runs, tmp_path):
  run = runs["random+vanilla"]
  steps = [synth.load(run.workdir, s) for s in (2, 4)]
  shown = inspect_lib.inspect_run(run, TEXTS, str(tmp_path), steps_for_alphas=lambda: steps)
  alphas = shown["mixture_alpha"]
  assert alphas.shape == (2, 2, run.model_config.num_heads)  # layers, components, heads
  np.testing.assert_allclose(alphas.sum(axis=1), 1.0, atol=1e-6)  # softmax over components
  layer = run.model.decoder.layers[1]
  np.testing.assert_allclose(alphas[1], np.asarray(layer.self_attention.mixture()), atol=1e-7)
  trajectory = shown["mixture_alpha_trajectory"]
  assert trajectory.shape == (2, *alphas.shape)
  np.testing.assert_allclose(trajectory[-1], alphas, atol=1e-7)  # the last checkpoint is this one
  assert np.abs(trajectory[0] - trajectory[1]).max() > 0  # and the weights moved in training


def test_choosing_layers_heads_and_stacks(runs, tmp_path):
  run = runs["random+vanilla"]
  every = inspect_lib.inspect_run(run, TEXTS, str(tmp_path / "all"))
  some = inspect_lib.inspect_run(run, TEXTS, str(tmp_path / "some"), attention="decoder/self",
                                 layers=[1], heads=[0])
  np.testing.assert_array_equal(some["decoder_self_example0"],
                                every["decoder_self_example0"][[1]][:, [0]])
  np.testing.assert_array_equal(some["mixture_alpha"], every["mixture_alpha"][[1]][:, :, [0]])
  with pytest.raises(ValueError, match=r"layer 2 does not exist: the model has 2 layers \(0-1\)"):
    inspect_lib.inspect_run(run, TEXTS, str(tmp_path / "x"), layers=[2])
  with pytest.raises(ValueError, match=r"head 9 does not exist"):
    inspect_lib.inspect_run(run, TEXTS, str(tmp_path / "x"), heads=[9])
  with pytest.raises(ValueError, match=r"--attention encoder/self: this model has decoder/self"):
    inspect_lib.inspect_run(run, TEXTS, str(tmp_path / "x"), attention="encoder/self")
  assert not (tmp_path / "x").exists()  # nothing written for a bad choice


def test_eval_examples_are_cut_to_the_model_length(runs):
  texts = inspect_lib.eval_texts(runs["dense"], 4)
  assert len(texts) == 4 and all(isinstance(t, str) and t for t in texts)
  maps, lengths = inspect_lib.attention_maps(runs["dense"], texts, truncate=True)
  assert max(lengths) <= 32 and maps["decoder/self"].shape[1] == 4
  with pytest.raises(ValueError, match="--examples must be positive"):
    inspect_lib.eval_texts(runs["dense"], 0)


def test_bad_input(runs, tmp_path):
  with pytest.raises(ValueError, match="at least one text"):
    inspect_lib.attention_maps(runs["random"], [])
  with pytest.raises(ValueError, match=r"the model attends over at most model.max_len=32"):
    inspect_lib.attention_maps(runs["random"], [" ".join(["word"] * 200)])


def test_inspect_command_line(runs, tmp_path):
  from train_helpers import run_synth
  texts = tmp_path / "texts.txt"
  texts.write_text("\n".join(TEXTS) + "\n")
  out = tmp_path / "pictures"
  result = run_synth("inspect", f"--workdir={runs['random'].workdir}", f"--input={texts}",
                     f"--out={out}", "--checkpoint=2", timeout=180)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split() == [str(out / "decoder_self_example0.png"),
                                   str(out / "decoder_self_softmax_R.png")]
  bad = run_synth("inspect", f"--workdir={runs['random'].workdir}", f"--input={texts}",
                  f"--out={tmp_path / 'bad'}", "--layers=7", timeout=180)
  assert bad.returncode == 2
  assert bad.stderr.strip().splitlines()[-1] == (
      "synth: error: layer 7 does not exist: the model has 2 layers (0-1)")
  missing = run_synth("inspect", f"--workdir={runs['random'].workdir}", f"--out={out}",
                      timeout=60)
  assert missing.returncode == 2 and "either --input=FILE" in missing.stderr
  examples = run_synth("inspect", f"--workdir={runs['random'].workdir}", "--examples=3",
                       f"--out={tmp_path / 'examples'}", timeout=180)
  assert examples.returncode == 0, examples.stderr[-2000:]
  assert (tmp_path / "examples" / "decoder_self_example0.png").exists()


def test_the_quickstart_notebook_runs(tmp_path):
  """notebooks/quickstart.py (jupytext percent format) end to end, shortened to 20 steps."""
  import subprocess
  import sys

  from train_helpers import REPO, synth_env
  env = dict(synth_env(8), SYNTH_QUICKSTART_DIR=str(tmp_path / "run"),
             SYNTH_QUICKSTART_STEPS="20")
  result = subprocess.run([sys.executable, os.path.join(REPO, "notebooks", "quickstart.py")],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True,
                          timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "'def parse(text):' ->" in result.stdout
  assert (tmp_path / "run" / "pictures" / "decoder_self_example0.png").exists()


def test_encoder_decoder_draws_encoder_decoder_and_cross_attention(tmp_path):
  """A tiny translation model: all three stacks, cross-attention rows over the source."""
  from test_eval_tasks import WORDS, _config
  rng = np.random.default_rng(0)
  for split, n in (("train", 32), ("dev", 4)):
    rows = ["input\ttarget"] + ["{0}\t{0}".format(" ".join(rng.choice(WORDS, 5)))
                                for _ in range(n)]
    (tmp_path / f"{split}.tsv").write_text("\n".join(rows) + "\n")
  config = _config("files_translation", train=tmp_path / "train.tsv", eval=tmp_path / "dev.tsv")
  config.model.variant = "dense"
  config.eval.update(num_samples=0)
  trainer.train(config, str(tmp_path / "run"))
  run = synth.load(str(tmp_path / "run"))
  shown = inspect_lib.inspect_run(run, ["alpha beta gamma", "delta"], str(tmp_path / "out"))
  assert {"encoder_self_example0", "decoder_self_example0", "decoder_cross_example0",
          "encoder_self_mean"} <= set(shown)
  cross = shown["decoder_cross_example0"]
  n_source = len(run.tokenizer.encode("alpha beta gamma")) + 1  # and its EOS
  assert cross.shape[-1] == n_source  # keys: the example's own source tokens
  np.testing.assert_allclose(cross.sum(-1), 1.0, atol=1e-5)  # nothing went to padding
