"""Failure behaviour: every failure a user can meet is one `synth: error:` line, a failed start
leaves nothing behind, one trainer per workdir, unreadable checkpoints are skipped, and SIGTERM
takes the clean path from start-up to exit. Each property is paired with the case where it must
not hold (or where the other branch is taken)."""
import errno
import fcntl
import os
import shutil
import signal
import subprocess
import time

import pytest

from synth import errors
from synth.eval import evaluate
from synth.sweep import grid, spec
from synth.train import checkpoints as ckpt
from synth.train import trainer, workdir as workdir_lib
from train_helpers import REPO, run_synth, synth_command, synth_env, tiny_config, tiny_flags


def one_error_line(result) -> str:
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines() if line.startswith("synth: error:")]
  assert len(errors) == 1, result.stderr[-3000:]
  return errors[0]


@pytest.mark.parametrize("args, message", [
    (["--config=configs/files_lm.py:train=/nope.txt,eval=/nope.txt"],
     "data.train_files: no such file: /nope.txt"),
    (["--config=configs/lm_python_docs.py", "--config.data.batch_size=6"],
     "data.batch_size=6 is not divisible by the 8 devices the batch is split over"),
    (["--config=configs/lm_python_docs.py", "--config.mesh.data=3"],
     "needs 3 devices but 8 are present"),
])
def test_a_failed_start_is_one_line_and_leaves_no_workdir(tmp_path, args, message):
  workdir = tmp_path / "run"
  result = run_synth("train", *args, f"--workdir={workdir}", timeout=180)
  assert result.returncode == 2
  assert message in one_error_line(result)
  assert not workdir.exists()


def test_a_failed_start_in_an_existing_workdir_removes_nothing(tmp_path):
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / "notes.txt").write_text("mine")
  result = run_synth("train", "--config=configs/files_lm.py:train=/nope.txt,eval=/nope.txt",
                     f"--workdir={workdir}", timeout=180)
  assert result.returncode == 2 and "no such file" in one_error_line(result)
  assert sorted(os.listdir(workdir)) == ["notes.txt", workdir_lib.LOCK_NAME]
  assert (workdir / workdir_lib.LOCK_NAME).read_text() == ""  # released: nobody holds it


def test_config_file_with_a_syntax_error_is_one_line(tmp_path):
  bad = tmp_path / "bad.py"
  bad.write_text("def get_config(:\n  pass\n")
  result = run_synth("train", f"--config={bad}", f"--workdir={tmp_path / 'run'}", timeout=60)
  assert result.returncode == 2
  assert one_error_line(result) == f"synth: error: {bad}:1: invalid syntax: fix the config file"


def test_a_workdir_that_is_a_file_or_not_writable(tmp_path, monkeypatch):
  file = tmp_path / "file"
  file.write_text("x")
  with pytest.raises(workdir_lib.WorkdirError, match="is a file, not a directory"):
    workdir_lib.prepare_workdir(str(file))
  # Root may write anywhere, so a read-only directory is simulated for the check.
  real_access = os.access
  monkeypatch.setattr(workdir_lib.os, "access",
                      lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
  with pytest.raises(workdir_lib.WorkdirError, match=f"cannot write to {tmp_path}"):
    workdir_lib.prepare_workdir(str(tmp_path / "new"))
  assert not (tmp_path / "new").exists()
  monkeypatch.undo()
  assert workdir_lib.prepare_workdir(str(tmp_path / "new")) is True
  assert workdir_lib.prepare_workdir(str(tmp_path / "new")) is False


def test_one_trainer_per_workdir(tmp_path, capsys):
  first = workdir_lib.WorkdirLock(str(tmp_path)).acquire()
  with pytest.raises(workdir_lib.WorkdirLockedError,
                     match=rf"in use by pid {os.getpid()} on host .* since"):
    workdir_lib.WorkdirLock(str(tmp_path)).acquire()
  first.release()
  second = workdir_lib.WorkdirLock(str(tmp_path)).acquire()  # free again once released
  second.release()
  assert "took over" not in capsys.readouterr().out
  # A holder that died leaves its text but no lock: the next trainer takes over and says so.
  (tmp_path / workdir_lib.LOCK_NAME).write_text("pid 999999 on host gone since then\n")
  third = workdir_lib.WorkdirLock(str(tmp_path)).acquire()
  third.release()
  assert "took over" in capsys.readouterr().out


def test_a_second_trainer_refuses_and_changes_nothing(tmp_path):
  """`synth train` on a workdir whose lock another process holds: one line, nothing written."""
  workdir = tmp_path / "run"
  workdir.mkdir()
  with open(workdir / workdir_lib.LOCK_NAME, "w") as held:
    held.write("pid 1 on host elsewhere since earlier\n")
    held.flush()
    fcntl.flock(held.fileno(), fcntl.LOCK_EX)
    result = run_synth("train", "--config=configs/lm_python_docs.py", f"--workdir={workdir}",
                       timeout=180)
  assert result.returncode == 2
  assert f"workdir {workdir} is in use by pid 1 on host elsewhere" in one_error_line(result)
  assert os.listdir(workdir) == [workdir_lib.LOCK_NAME]


def _truncate_arrays(step_dir: str) -> None:
  """Damages a checkpoint as a failing disk would: every array file cut to 10 bytes."""
  for root, _, files in os.walk(os.path.join(step_dir, "state")):
    if os.sep + "d" in root:
      for name in files:
        os.truncate(os.path.join(root, name), 10)


def test_resume_skips_an_unreadable_checkpoint(vocab, tmp_path, capsys):
  config = tiny_config(vocab, **{"train.num_steps": 8, "train.checkpoint_every": 4,
                                 "train.eval_every": 0})
  workdir = str(tmp_path / "run")
  trainer.train(config, workdir)
  _truncate_arrays(os.path.join(workdir, "checkpoints", "8"))
  damaged = tmp_path / "damaged"
  shutil.copytree(workdir, damaged)
  capsys.readouterr()
  config.train.num_steps = 12
  trainer.train(config, workdir)
  out = capsys.readouterr().out
  assert "checkpoint step 8 is unreadable, trying the one before" in out
  assert "resuming from checkpoint step 4" in out
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["12", "4", "8", "8.corrupt"]
  # The damaged copy is kept byte for byte, set aside, not deleted.
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints", "8.corrupt"))) == sorted(
      os.listdir(damaged / "checkpoints" / "8"))


def test_when_no_checkpoint_restores_nothing_is_moved(vocab, tmp_path):
  """A config that fits no checkpoint fails each the same way: an error, nothing set aside."""
  config = tiny_config(vocab, **{"train.num_steps": 4, "train.checkpoint_every": 2,
                                 "train.eval_every": 0})
  workdir = str(tmp_path / "run")
  trainer.train(config, workdir)
  config.model.d_ff = 48
  with pytest.raises(ckpt.UnreadableCheckpointError, match="cannot restore checkpoint step 4"):
    trainer.train(config, workdir)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2", "4"]


def test_eval_all_reports_a_truncated_checkpoint_and_goes_on(vocab, tmp_path):
  config = tiny_config(vocab, **{"train.num_steps": 6, "train.checkpoint_every": 2,
                                 "train.eval_every": 0})
  workdir = str(tmp_path / "run")
  trainer.train(config, workdir)
  _truncate_arrays(os.path.join(workdir, "checkpoints", "4"))
  rows, errors = evaluate.evaluate_checkpoints(config, workdir, which="all")
  assert [r["step"] for r in rows] == [2, 6]
  assert len(errors) == 1 and errors[0].startswith("cannot restore checkpoint step 4")
  before = sorted(os.listdir(os.path.join(workdir, "eval")))
  with pytest.raises(ValueError):  # an unknown split fails before any file is written
    evaluate.evaluate_checkpoints(config, workdir, which="all", split="bad")
  assert sorted(os.listdir(os.path.join(workdir, "eval"))) == before


def test_storage_errors_are_named_however_deep_they_sit():
  try:
    try:
      raise OSError(errno.ENOSPC, "No space left on device", "/ckpt/8/state/d/x")
    except OSError as disk:
      raise ValueError("tensorstore: write failed") from disk
  except ValueError as wrapped:
    line = errors.error_line(wrapped)
  assert line.startswith("No space left on device: /ckpt/8/state/d/x;")
  assert "the ones before it are intact" in line
  # Not a storage error: the exception's own message, named by its type when unexpected.
  assert errors.error_line(ValueError("bad value")) == "bad value"
  assert errors.error_line(KeyError("x")) == "'x'"
  assert errors.error_line(RuntimeError("boom")) == (
      "RuntimeError: boom (SYNTH_TRACEBACK=1 shows the traceback)")
  try:
    try:
      raise OSError(errno.ENOENT, "No such file or directory", "/x")
    except OSError:
      raise RuntimeError("wrapped") from None
  except RuntimeError as hidden:  # `from None`: the context is not the cause
    assert errors.error_line(hidden) == "RuntimeError: wrapped (SYNTH_TRACEBACK=1 shows the traceback)"


def test_sigterm_during_start_up_exits_cleanly(vocab, tmp_path):
  """SIGTERM while the command is still importing and building: exit 0, not 143."""
  workdir = tmp_path / "run"
  overrides = {"train.num_steps": 1000, "train.eval_every": 0}
  proc = subprocess.Popen(
      synth_command("train", "--config=configs/lm_python_docs.py", f"--workdir={workdir}",
                    *tiny_flags(vocab, **overrides)),
      cwd=REPO, env=synth_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    time.sleep(4.0)  # past `synth train`'s first lines, inside its imports, data and compiles
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=180)
  finally:
    proc.kill()
  assert proc.returncode == 0, err[-3000:]  # not 143: the clean path, wherever it arrived
  assert "SIGTERM" in err


def test_a_sigterm_before_the_trainer_starts_is_not_lost():
  """The early handler records the signal; the trainer's Preemption sees it at once. Without the
  early handler the same signal would have killed the process (the default action)."""
  from synth.train import preemption
  previous = signal.getsignal(signal.SIGTERM)
  try:
    preemption.install_early()
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.1)  # the handler runs between bytecodes of the main thread
    assert preemption.Preemption().requested
  finally:
    signal.signal(signal.SIGTERM, previous)
    preemption._early["received"] = False
  assert not preemption.Preemption().requested


def test_non_finite_loss_on_a_fresh_run_says_no_checkpoint_yet(vocab, tmp_path):
  config = tiny_config(vocab, **{"optimizer.learning_rate": 1e30, "train.num_steps": 4,
                                 "train.checkpoint_every": 4, "train.eval_every": 0})
  with pytest.raises(trainer.NonFiniteLossError, match="No checkpoint had been saved yet"):
    trainer.train(config, str(tmp_path / "run"))


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".", ".hidden", ""])
def test_sweep_names_cannot_leave_the_root(name):
  with pytest.raises(ValueError, match="cannot name a directory"):
    spec.Experiment(name=name, title="t", variants=("vanilla",), tasks=())
  with pytest.raises(ValueError, match="cannot name a directory"):
    spec.Experiment(name="ok", title="t", variants=("vanilla",),
                    tasks=(spec.Task(name, "configs/lm_python_docs.py"),))
  with pytest.raises(ValueError, match="cannot name a directory"):
    spec.Experiment(name="ok", title="t", variants=(name,), tasks=())


def test_sweep_workdirs_stay_inside_the_root(tmp_path):
  task = spec.Task("lm", "configs/lm_python_docs.py")
  experiment = spec.Experiment(name="table", title="t", variants=("random+vanilla",),
                               tasks=(task,))
  (run,) = grid.expand(experiment, str(tmp_path))
  assert run.workdir == str(tmp_path / "table" / "lm" / "random+vanilla" / "seed0")
  escaping = grid.Run("..", task, "vanilla", 0, str(tmp_path))  # built around the checks
  with pytest.raises(ValueError, match="is not inside --root"):
    escaping.workdir


def test_a_full_disk_under_tensorstore_is_named_and_a_failed_run():
  """Orbax's tensorstore reports a full disk in its own message, with the errno inside."""
  error = ValueError('RESOURCE_EXHAUSTED: Error writing "params.x/0" in OCDBT database: Failed '
                     'writing: "/w/checkpoints/80.tmp/d/ab": Failed to write 64 bytes to file 6: '
                     "No space left on device [os_error_code='28']")
  assert errors.error_line(error).startswith("No space left on device: /w/checkpoints/80.tmp/d/ab;")
  assert errors.exit_code(error) == 1
  other = ValueError("INVALID_ARGUMENT: bad spec [os_error_code='22']")  # not storage: usage
  assert errors.error_line(other) == "INVALID_ARGUMENT: bad spec [os_error_code='22']"
  assert errors.exit_code(other) == 2


def test_library_error_logs_keep_one_line_and_ours_stay_whole():
  import logging
  echoes = errors.LibraryEchoes()
  try:
    raise RuntimeError("write failed\nsecond line")
  except RuntimeError:
    import sys
    exc_info = sys.exc_info()
  record = logging.LogRecord("orbax.checkpoint", logging.ERROR, "f.py", 1, "save failed: %s",
                             ("disk\nmore",), exc_info)
  assert echoes.filter(record) and record.getMessage() == "save failed: disk"
  assert record.exc_info is None
  ours = logging.LogRecord("synth.train", logging.ERROR, "f.py", 1, "a\nb", (), exc_info)
  warning = logging.LogRecord("orbax", logging.WARNING, "f.py", 1, "a\nb", (), exc_info)
  for kept in (ours, warning):
    assert echoes.filter(kept) and kept.getMessage() == "a\nb" and kept.exc_info is exc_info


def test_long_decoding_shows_progress_with_an_eta(capsys):
  """A progress line once the loop has run `every_s`, with rate and ETA, and a closing line;
  a loop that ends sooner prints nothing."""
  from synth.train.reporting import Progress
  now = [0.0]
  progress = Progress("decoding test (beam)", total=100, every_s=30, clock=lambda: now[0])
  for done, t in ((10, 10.0), (25, 31.0), (60, 45.0), (100, 70.0)):
    now[0] = t
    progress.update(done)
  lines = [line[9:] for line in capsys.readouterr().out.splitlines()]  # without the time
  assert lines == ["decoding test (beam): 25/100, 0.8/s, ETA 0:01:33",
                   "decoding test (beam): 100/100, 1.4/s, took 0:01:10"]
  quick = Progress("decoding validation (beam)", total=10, every_s=30, clock=lambda: now[0])
  quick.update(10)
  assert capsys.readouterr().out == ""
