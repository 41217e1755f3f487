"""Profiler traces: the trainer's train.profile_steps window and `synth bench --profile`.

What is checked is that the traces land where the docs say, one per window or case, non-empty:
their content is jax.profiler's. The trainer runs use the tiny LM of tests/train_helpers.py.
"""
import glob
import json
import os

import jax
import pytest

from synth.bench import main as bench_main
from synth.config import ConfigError, parse_profile_steps
from synth.models import ModelConfig
from synth.train import trainer
from train_helpers import SimulatedCrash, crash_at_step, tiny_config


def traces(log_dir) -> list[str]:
  """The xplane files of every trace session under a jax.profiler log dir."""
  return sorted(glob.glob(os.path.join(log_dir, "plugins", "profile", "*", "*.xplane.pb")))


def assert_one_trace(log_dir):
  files = traces(log_dir)
  assert len(files) == 1, files
  assert os.path.getsize(files[0]) > 0


def test_trainer_traces_its_window_clipped_to_num_steps(vocab, tmp_path, capsys):
  # Steps 3..8 asked for, the run has 4: steps 3 and 4 are traced, the final eval is not.
  workdir = str(tmp_path / "run")
  config = tiny_config(vocab, **{"train.num_steps": 4, "train.eval_every": 0,
                                 "train.profile_steps": "3:9"})
  trainer.train(config, workdir)
  assert_one_trace(os.path.join(workdir, "profile"))
  assert "profiler trace of steps 3-4" in capsys.readouterr().out


def test_trainer_stops_the_trace_when_the_loop_fails(vocab, tmp_path, monkeypatch):
  crash_at_step(monkeypatch, 3)
  workdir = str(tmp_path / "crash")
  config = tiny_config(vocab, **{"train.profile_steps": "2:6"})
  with pytest.raises(SimulatedCrash):
    trainer.train(config, workdir)
  assert_one_trace(os.path.join(workdir, "profile"))
  # No trace is left running: a new one starts.
  jax.profiler.start_trace(str(tmp_path / "after"))
  jax.profiler.stop_trace()


def test_profile_steps_parsing():
  assert parse_profile_steps("") is None
  assert parse_profile_steps("2:4") == (2, 4)
  assert parse_profile_steps(" 1 : 2 ", num_steps=1) == (1, 2)


@pytest.mark.parametrize("value, message", [
    ("4:2", r"not 'START:STOP' with 1 <= START < STOP"),
    ("3:3", r"not 'START:STOP'"),
    ("-1:2", r"not 'START:STOP'"),
    ("0:2", r"not 'START:STOP'"),
    ("5", r"not 'START:STOP'"),
    ("a:b", r"not 'START:STOP'"),
    ("9:12", r"starts after the last step, train.num_steps=8"),
])
def test_bad_profile_steps_is_a_one_line_config_error(value, message):
  config = tiny_config("unused.model", **{"train.profile_steps": value})
  with pytest.raises(ConfigError, match=message) as info:
    ModelConfig.for_run(config)
  assert "\n" not in str(info.value)


def test_config_json_from_before_the_field_still_validates():
  # `synth eval` validates the config.json an older run wrote, which has no profile_steps.
  config = tiny_config("unused.model")
  del config.train["profile_steps"]
  ModelConfig.for_run(config)


def test_bench_traces_every_case(tmp_path, capsys):
  profile_dir = tmp_path / "traces"
  out = tmp_path / "bench.json"
  code = bench_main(["--variants=vanilla,random", "--seq_lens=8", "--batch_size=2",
                     "--d_model=16", "--num_heads=2", "--d_ff=32", "--num_layers=1",
                     "--vocab_size=50", "--repeats=1", "--warmup=0", "--peak_size=128",
                     f"--json={out}", f"--profile={profile_dir}"])
  assert code == 0
  assert sorted(os.listdir(profile_dir)) == ["train_random_8", "train_vanilla_8"]
  for case in ("train_random_8", "train_vanilla_8"):
    assert_one_trace(profile_dir / case)
    perfetto = glob.glob(str(profile_dir / case / "plugins/profile/*/perfetto_trace.json.gz"))
    assert len(perfetto) == 1 and os.path.getsize(perfetto[0]) > 0
  printed = capsys.readouterr().out
  assert f"xprof --logdir {profile_dir}" in printed and "ui.perfetto.dev" in printed
  report = json.loads(out.read_text())
  assert report["profile"] == {"dir": str(profile_dir), "steps_per_case": 2}
  # The traced steps are not among the timed ones.
  assert all(len(r["step_times_s"]) == 1 for r in report["results"])
