"""synth without TensorFlow: the core install trains, resumes, evaluates, decodes and writes
TensorBoard events with `import tensorflow` failing, and reads prepared TFDS datasets.

Each command runs in a subprocess through tests/without_tensorflow.py, which makes TensorFlow
unfindable (as on a JAX-only GPU image or a fresh TPU VM) while the rest of the test venv stays.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from synth import summary_writer
from synth.data import tfds_tasks
from train_helpers import REPO, synth_env, tiny_flags

HIDE = os.path.join(REPO, "tests", "without_tensorflow.py")


def run_without_tf(*args: str, cwd: str, stdin: str | None = None, timeout: float = 300):
  return subprocess.run([sys.executable, HIDE, *args], cwd=cwd, env=synth_env(8),
                        capture_output=True, text=True, input=stdin, timeout=timeout)


def check(result):
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  # TensorFlow's start-up lines ("oneDNN custom operations are on ...") never appear.
  assert "oneDNN" not in result.stderr + result.stdout
  return result


def test_the_launcher_really_hides_tensorflow(tmp_path):
  """The property every test below relies on, paired with the case where it must not hold."""
  code = ("import importlib.util, sys; print(importlib.util.find_spec('tensorflow')); "
          "import tensorflow")
  hidden = run_without_tf("-c", code, cwd=str(tmp_path))
  assert hidden.returncode != 0 and "ModuleNotFoundError: No module named 'tensorflow'" in (
      hidden.stderr)
  assert hidden.stdout.strip() == "None"
  # The same check in the same venv without the launcher: TensorFlow is there (the dev extra).
  visible = subprocess.run([sys.executable, "-c", "import importlib.util; "
                            "print(importlib.util.find_spec('tensorflow') is not None)"],
                           capture_output=True, text=True, cwd=str(tmp_path))
  assert visible.stdout.strip() == "True"


def _read_events_code(logdir: str) -> str:
  """Code that prints {tag: [(step, value)]} of the scalars, the text tags and the plugins of
  every event file in `logdir`, read by the tensorboard package's own event loader."""
  return f"""
import glob, json
from tensorboard.backend.event_processing import event_file_loader
scalars, texts, plugins = {{}}, [], set()
for path in sorted(glob.glob({os.path.join(logdir, "events.out.tfevents.*")!r})):
  for event in event_file_loader.EventFileLoader(path).Load():
    for value in event.summary.value:
      plugin = value.metadata.plugin_data.plugin_name
      plugins.add(plugin)
      if plugin == "scalars":
        # The loader migrates simple_value scalars to tensors, as TensorBoard shows them.
        scalars.setdefault(value.tag, []).append([event.step, value.tensor.float_val[0]])
      elif plugin == "text":
        texts.append(value.tag)
print(json.dumps({{"scalars": scalars, "texts": texts, "plugins": sorted(plugins)}}))
"""


def test_train_resume_eval_decode_and_tensorboard_without_tensorflow(tmp_path, vocab):
  """The README's main job (shrunk), from a directory with no configs/ of its own: the shipped
  config file is found, and every step runs with TensorFlow unimportable."""
  import json
  overrides = {"train.num_steps": 4, "train.eval_every": 4,
               "train.checkpoint_every": 4, "eval.num_samples": 2}
  train = ["-m", "synth", "train", "--config=configs/lm_python_docs.py", "--workdir=run",
           *tiny_flags(vocab, **overrides)]
  first = check(run_without_tf(*train, cwd=str(tmp_path)))
  assert "eval at step 4" in first.stdout
  resumed = check(run_without_tf(*train, "--config.train.num_steps=8", cwd=str(tmp_path)))
  assert "resuming from checkpoint step 4" in resumed.stdout
  assert "eval at step 8" in resumed.stdout

  evaluated = check(run_without_tf("-m", "synth", "eval", "--workdir=run", "--checkpoint=all",
                                   cwd=str(tmp_path)))
  assert [line.split()[0] for line in evaluated.stdout.splitlines()
          if line.startswith("step=")] == ["step=4", "step=8"]
  decoded = check(run_without_tf("-m", "synth", "decode", "--workdir=run", "--input=-",
                                 cwd=str(tmp_path), stdin="def parse(text):\nclass Loader\n"))
  assert len(decoded.stdout.splitlines()) == 2

  read = check(run_without_tf("-c", _read_events_code(str(tmp_path / "run")), cwd=str(tmp_path)))
  events = json.loads(read.stdout)
  metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text()
             .splitlines()]
  # TensorBoard holds exactly the losses metrics.jsonl logged (both runs' rows).
  logged = sorted((r["step"], r["loss"]) for r in metrics if "loss" in r)
  seen = sorted(tuple(p) for p in events["scalars"]["loss"])
  assert [s for s, _ in seen] == [s for s, _ in logged] == list(range(1, 9))
  np.testing.assert_allclose([v for _, v in seen], [v for _, v in logged], rtol=1e-6)
  assert [p[0] for p in events["scalars"]["eval/loss"]] == [4, 8]
  assert "validation/samples/text_summary" in events["texts"]  # tensorboardX names text tags so
  assert "hparams" in events["plugins"]
  eval_events = json.loads(check(run_without_tf(
      "-c", _read_events_code(str(tmp_path / "run" / "eval")), cwd=str(tmp_path))).stdout)
  assert [p[0] for p in eval_events["scalars"]["validation/loss"]] == [4, 8]


def test_prepared_tfds_dataset_is_read_without_tensorflow(tmp_path):
  """A dataset prepared in ArrayRecord format (here with TensorFlow, as `tfds build` does) is
  read by synth's TFDS reader in a process where TensorFlow cannot be imported."""
  import tensorflow_datasets as tfds

  class TinyReviews(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
      return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
          {"text": tfds.features.Text(), "label": tfds.features.ClassLabel(num_classes=2)}))

    def _split_generators(self, dl_manager):
      del dl_manager
      return {"train": self._generate_examples(6), "test": self._generate_examples(3)}

    def _generate_examples(self, n):
      for i in range(n):
        yield i, {"text": f"review number {i}", "label": i % 2}

  data_dir = str(tmp_path / "tfds")
  TinyReviews(data_dir=data_dir, file_format="array_record").download_and_prepare()
  code = ("import sys; from synth.data.tfds_tasks import open_split, text; "
          f"split = open_split('tiny_reviews', 'test', {data_dir!r}); "
          "print(len(split), sorted(text(split[i]['text']) for i in range(len(split)))); "
          "print('tensorflow' in sys.modules)")
  result = check(run_without_tf("-c", code, cwd=str(tmp_path)))
  assert result.stdout.splitlines() == [
      "3 ['review number 0', 'review number 1', 'review number 2']", "False"]


def test_a_tfds_step_that_needs_tensorflow_is_one_line(monkeypatch):
  """Where TFDS itself reaches for TensorFlow, the error names the install command."""
  import tensorflow_datasets as tfds

  def needs_tf(*args, **kwargs):
    raise ModuleNotFoundError("No module named 'tensorflow'")

  monkeypatch.setattr(tfds, "data_source", needs_tf)
  with pytest.raises(tfds_tasks.TensorFlowNeededError) as e:
    tfds_tasks.open_split("glue/cola", "train", "/nowhere")
  assert str(e.value).endswith(f"needs TensorFlow, which is not installed: "
                               f"{tfds_tasks.TFDS_INSTALL}")

  def other_import_error(*args, **kwargs):
    raise ModuleNotFoundError("No module named 'apache_beam'")

  monkeypatch.setattr(tfds, "data_source", other_import_error)
  with pytest.raises(ModuleNotFoundError, match="apache_beam"):  # not mistaken for TensorFlow
    tfds_tasks.open_split("glue/cola", "train", "/nowhere")


def test_summary_writer_round_trip(tmp_path, monkeypatch):
  """Scalars, text, images and hyperparameters come back from the event file as written; a
  process other than 0 writes nothing."""
  from tensorboard.backend.event_processing import event_accumulator
  writer = summary_writer.SummaryWriter(str(tmp_path / "run"))
  writer.write_scalars(3, {"loss": 2.5, "eval/loss": 2.75})
  writer.write_scalars(5, {"loss": 2.0})
  writer.write_texts(5, {"samples": "a *b* c"})
  image = np.zeros((4, 6, 3), np.uint8)
  image[1, 2] = (255, 0, 0)
  writer.write_images(5, {"attention/layer0": image})
  writer.write_hparams({"model": {"variant": "random", "rules": (("batch", "data"),)},
                        "seed": 1}, metrics=("eval/loss",))
  writer.close()

  acc = event_accumulator.EventAccumulator(str(tmp_path / "run"), size_guidance={
      event_accumulator.TENSORS: 0})
  acc.Reload()
  assert [(e.step, e.value) for e in acc.Scalars("loss")] == [(3, 2.5), (5, 2.0)]
  assert [(e.step, e.value) for e in acc.Scalars("eval/loss")] == [(3, 2.75)]
  (img,) = acc.Images("attention/layer0")
  assert (img.step, img.width, img.height) == (5, 6, 4)
  from PIL import Image
  import io
  decoded = np.asarray(Image.open(io.BytesIO(img.encoded_image_string)).convert("RGB"))
  np.testing.assert_array_equal(decoded, image)
  plugins = acc.PluginTagToContent("hparams")
  assert set(plugins) == {"_hparams_/experiment", "_hparams_/session_start_info"}
  from tensorboard.plugins.hparams import plugin_data_pb2
  start = plugin_data_pb2.HParamsPluginData.FromString(
      plugins["_hparams_/session_start_info"]).session_start_info
  assert start.hparams["model.variant"].string_value == "random"
  assert start.hparams["model.rules"].string_value == '[["batch", "data"]]'
  assert start.hparams["seed"].number_value == 1

  monkeypatch.setattr(summary_writer.jax, "process_index", lambda: 1)
  quiet = summary_writer.SummaryWriter(str(tmp_path / "other"))
  quiet.write_scalars(1, {"loss": 1.0})
  quiet.close()
  assert not (tmp_path / "other").exists()
