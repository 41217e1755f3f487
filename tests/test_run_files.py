"""A run's small files through synth.run_files, locally and on a fake gs:// bucket.

The fake bucket is etils.epath.testing.mock_epath with every gs:// path mapped to a local dir; it
refuses append mode and renames as GCS would (no appendable objects, no atomic rename), so the
remote code path runs for real, without network.
"""
import json
import os

import ml_collections
import pytest
from etils import epath
from etils.epath import gpath, testing

from synth import run_files
from synth.eval import evaluate
from synth.train import reporting, trainer


@pytest.fixture
def gcs(tmp_path, monkeypatch):
  """A fake gs://bucket: returns the local dir that holds its objects."""
  root = tmp_path / "gcs"
  root.mkdir()
  monkeypatch.chdir(tmp_path)  # a stray local write of "gs://..." lands here, not in the repo

  def local(path):
    path = os.fspath(path)
    return str(root / path[len("gs://"):]) if path.startswith("gs://") else path

  def mapped(fn, path, *args, **kwargs):
    return fn(local(path), *args, **kwargs)

  def open_(fn, path, mode, *args, **kwargs):
    if os.fspath(path).startswith("gs://"):
      if "a" in mode:
        raise OSError(f"GCS objects cannot be appended to: {path}")
      if "w" in mode:  # objects need no parent directory
        os.makedirs(os.path.dirname(local(path)), exist_ok=True)
    return fn(local(path), mode, *args, **kwargs)

  def no_rename(fn, path, dst, *args, **kwargs):
    if os.fspath(path).startswith("gs://"):
      raise OSError(f"no atomic rename on GCS: {path}")
    return fn(local(path), local(dst), *args, **kwargs)

  # With TensorFlow installed epath sends gs:// to its tf backend, past mock_epath's backends.
  monkeypatch.setattr(gpath, "_is_tf_installed", lambda: False)
  fns = {name: mapped for name in ("exists", "glob", "isdir", "listdir", "makedirs", "mkdir",
                                   "remove", "rmtree", "stat", "walk")}
  with testing.mock_epath(open=open_, rename=no_rename, replace=no_rename, **fns):
    epath.Path("gs://bucket/probe").write_text("x")
    assert (root / "bucket" / "probe").read_text() == "x", "the fake bucket is not in effect"
    (root / "bucket" / "probe").unlink()
    yield root / "bucket"


def test_is_remote():
  assert run_files.is_remote("gs://bucket/run")
  assert run_files.is_remote(epath.Path("gs://bucket/run"))
  assert not run_files.is_remote("/tmp/run")
  assert not run_files.is_remote("runs/x")


def test_append_jsonl_remote_keeps_rows_in_order(gcs):
  path = "gs://bucket/run/metrics.jsonl"
  run_files.append_jsonl(path, [{"step": 1, "loss": 2.5}])
  run_files.append_jsonl(epath.Path(path), [{"step": 2, "loss": 2.0}, {"step": 3, "loss": 1.5}])
  assert (gcs / "run" / "metrics.jsonl").read_text() == (
      '{"step": 1, "loss": 2.5}\n{"step": 2, "loss": 2.0}\n{"step": 3, "loss": 1.5}\n')
  assert [r["step"] for r in run_files.read_jsonl(path)] == [1, 2, 3]


def test_append_jsonl_local_appends_bytes_unchanged(tmp_path):
  path = tmp_path / "eval_results.jsonl"
  run_files.append_jsonl(str(path), [{"step": 1}])  # creates the file
  run_files.append_jsonl(str(path), [{"step": 2, "split": "test"}])
  assert path.read_text() == '{"step": 1}\n{"step": 2, "split": "test"}\n'


def test_read_jsonl_skips_torn_last_line(tmp_path, gcs):
  local = tmp_path / "metrics.jsonl"
  local.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "lo')
  assert run_files.read_jsonl(local) == [{"step": 1}, {"step": 2}]
  assert run_files.read_jsonl(tmp_path / "missing.jsonl") == []
  # A row appended after a torn line survives, locally and remotely (the torn line is dropped).
  run_files.append_jsonl(local, [{"step": 4}])
  assert run_files.read_jsonl(local) == [{"step": 1}, {"step": 2}, {"step": 4}]
  (gcs / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2, "lo')
  run_files.append_jsonl("gs://bucket/metrics.jsonl", [{"step": 3}])
  assert run_files.read_jsonl("gs://bucket/metrics.jsonl") == [{"step": 1}, {"step": 3}]


def test_write_text_atomic_leaves_no_tmp_file(tmp_path, gcs):
  local = tmp_path / "run"
  local.mkdir()
  run_files.write_text_atomic(local / "config.json", "old")
  run_files.write_text_atomic(str(local / "config.json"), '{"a": 1}')
  assert os.listdir(local) == ["config.json"]
  assert (local / "config.json").read_text() == '{"a": 1}'
  run_files.write_text_atomic("gs://bucket/run/config.json", "old")
  run_files.write_text_atomic("gs://bucket/run/config.json", '{"a": 2}')
  assert os.listdir(gcs / "run") == ["config.json"]
  assert (gcs / "run" / "config.json").read_text() == '{"a": 2}'


def test_run_files_through_the_remote_path(gcs, monkeypatch):
  """The trainer's and evaluator's writers produce a whole run's files on gs://, TensorBoard
  events included (through the same epath layer as the rest)."""
  workdir = "gs://bucket/run"

  config = ml_collections.ConfigDict({"seed": 0, "model": {"variant": "tiny"}})
  epath.Path(workdir).mkdir(parents=True, exist_ok=True)
  trainer.write_config(config, workdir)
  config.seed = 1
  trainer.write_config(config, workdir)  # a resume reads the old config back, then rewrites it
  assert json.loads((gcs / "run" / "config.json").read_text()) == {
      "seed": 1, "model": {"variant": "tiny"}}

  reporter = reporting.Reporter(workdir, num_steps=20, start_step=0)
  reporter.write(10, {"loss": 3.0})
  reporter.write(10, {"loss": 2.75}, prefix="eval/")
  reporter.write(20, {"loss": 2.5}, prefix="eval/")
  reporter.close()
  events = [n for n in os.listdir(gcs / "run") if n.startswith("events.out.tfevents")]
  assert len(events) == 1
  assert read_scalars(str(gcs / "run" / events[0])) == {
      "loss": [(10, 3.0)], "eval/loss": [(10, 2.75), (20, 2.5)]}
  assert (gcs / "run" / "metrics.jsonl").read_text() == (
      '{"step": 10, "loss": 3.0}\n{"step": 10, "eval/loss": 2.75}\n'
      '{"step": 20, "eval/loss": 2.5}\n')
  assert evaluate.select_steps(workdir, [10, 20], "best", "loss", "min") == [20]

  run_files.append_result(workdir, {"step": 20, "split": "validation", "accuracy": 0.5})
  run_files.append_result(workdir, {"step": 20, "split": "test", "accuracy": 0.25})
  assert [(r["split"], r["accuracy"]) for r in
          run_files.read_jsonl(f"{workdir}/eval_results.jsonl")] == [
              ("validation", 0.5), ("test", 0.25)]

  samples = [{"source": "a b", "reference": "b a", "prediction": "b a"},
             {"source": "c", "reference": "c", "prediction": "d"}]
  run_files.write_samples(workdir, 20, "validation", samples)
  assert os.listdir(gcs / "run" / "samples") == ["validation_step20.txt"]
  assert (gcs / "run" / "samples" / "validation_step20.txt").read_text() == (
      "source: a b\nreference: b a\nprediction: b a\n\n"
      "source: c\nreference: c\nprediction: d\n")


def read_scalars(event_file: str) -> dict:
  """{tag: [(step, value), ...]} as TensorBoard's own event reader sees them."""
  from tensorboard.backend.event_processing import event_file_loader
  scalars = {}
  for event in event_file_loader.EventFileLoader(event_file).Load():
    for value in event.summary.value:
      if value.metadata.plugin_data.plugin_name == "scalars":
        # The loader migrates simple_value scalars to tensors, as TensorBoard shows them.
        scalars.setdefault(value.tag, []).append((event.step, value.tensor.float_val[0]))
  return scalars


def test_sweep_log_of_a_remote_workdir(gcs, tmp_path):
  """A local sweep over a gs:// root: each command's output is appended to the remote sweep.log
  (a subprocess can only write to a local file)."""
  import sys

  from synth.sweep import local
  log = "gs://bucket/sweep/run/sweep.log"
  for word in ("first", "second"):
    code = local.run_logged([sys.executable, "-c", f"print('{word} output', flush=True); "
                             "import sys; sys.stdout.buffer.write(bytes([255, 10]))"], log,
                            cwd=str(tmp_path))
    assert code == 0
  data = (gcs / "sweep" / "run" / "sweep.log").read_bytes()  # not UTF-8: kept as bytes
  assert data.count(b"=== ") == 2 and data.index(b"first output") < data.index(b"second output")
  assert data.count(bytes([255])) == 2
