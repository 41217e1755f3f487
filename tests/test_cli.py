"""The `synth` command line as a user meets it: --help for the whole and for each command, one
flag style, unknown commands, `python -m synth`, and config files shipped with the package."""
import os
import re
import subprocess
import sys

import pytest

from synth import main
from synth.config import resolve_shipped, shipped_root
from train_helpers import REPO


def synth(*args: str, cwd: str = REPO, module: str = "synth"):
  return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True,
                        text=True, timeout=120)


def test_help_lists_every_command_with_a_line():
  result = synth("--help")
  assert result.returncode == 0, result.stderr
  listed = re.findall(r"^  (\w+) +(\S.*)$", result.stdout, re.M)
  assert [name for name, _ in listed] == list(main.COMMANDS)
  assert all(len(text) > 20 for _, text in listed)
  assert synth("help").stdout == result.stdout


def test_no_command_prints_the_commands_and_fails():
  result = synth()
  assert result.returncode == 2
  assert all(name in result.stderr for name in main.COMMANDS)


def test_unknown_command_is_one_line():
  result = synth("trian", "--workdir=x")
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      "synth: error: unknown command 'trian'; the commands are train, eval, decode, export, "
      "inspect, bench, sweep, results, data (synth --help says what each does)"]


@pytest.mark.parametrize("command", list(main.COMMANDS))
def test_every_command_has_help_with_its_flags(command):
  result = synth(command, "--help")
  assert result.returncode == 0, result.stderr
  assert result.stdout.startswith(f"usage: synth {command}")
  flags = set(re.findall(r"--[a-z][a-z_]*", result.stdout))
  expected = {"train": {"--config", "--workdir"},
              "eval": {"--workdir", "--checkpoint", "--split", "--config"},
              "decode": {"--workdir", "--input", "--output", "--checkpoint", "--config"},
              "export": {"--workdir", "--out", "--checkpoint"},
              "inspect": {"--workdir", "--input", "--out", "--checkpoint", "--attention",
                          "--layers", "--heads"},
              "bench": {"--variants", "--seq_lens", "--mode", "--batch_size", "--json"},
              "sweep": {"--root", "--only", "--dry_run", "--parallel"},
              "results": {"--root", "--out"},
              "data": {"--data_dir", "--only", "--force"}}[command]
  assert expected <= flags, flags
  # One flag style: --name with underscores, never dashes inside a name.
  assert not re.findall(r"--[a-z]+-[a-z]", result.stdout)


def test_flag_help_comes_from_the_flag_definitions():
  text = main.command_usage("eval")
  for name in ("workdir", "checkpoint", "split", "config"):
    assert main.FLAGS[name][1] in text
  assert "--out=" not in text  # eval has no --out


def test_python_dash_m_synth_is_the_same_command():
  assert synth("--help").stdout == synth("--help", module="synth.main").stdout
  assert synth("bench", "--help").stdout == synth("bench", "--help", module="synth.bench").stdout


def test_dashed_flags_are_rejected_with_the_usage_error():
  result = synth("bench", "--seq-lens=128")
  assert result.returncode == 2
  assert result.stderr.startswith("synth: error: bench: unrecognized arguments: --seq-lens")


def test_shipped_config_files_are_found_from_anywhere(tmp_path):
  """configs/<file>.py and experiments/<file>.py resolve to the package's copies when the
  current directory has none; a local file of the same name wins; anything else is unchanged."""
  os.chdir(tmp_path)
  try:
    shipped = resolve_shipped("configs/lm_python_docs.py")
    assert os.path.isfile(shipped) and os.path.isabs(shipped)
    with open(shipped) as f, open(os.path.join(REPO, "configs", "lm_python_docs.py")) as g:
      assert f.read() == g.read()
    assert os.path.isfile(resolve_shipped("experiments/cpu_offline.py"))
    assert resolve_shipped("configs/nope.py") == "configs/nope.py"
    assert resolve_shipped("other/lm_python_docs.py") == "other/lm_python_docs.py"
    os.mkdir("configs")
    with open("configs/lm_python_docs.py", "w") as f:
      f.write("# mine\n")
    assert resolve_shipped("configs/lm_python_docs.py") == "configs/lm_python_docs.py"
  finally:
    os.chdir(REPO)


def test_a_missing_config_file_is_one_line_that_says_where_the_shipped_ones_are(tmp_path):
  result = synth("train", "--config=configs/nope.py", "--workdir=w", cwd=str(tmp_path))
  assert result.returncode == 2
  (line,) = result.stderr.strip().splitlines()
  assert line.startswith("synth: error: config file 'configs/nope.py' does not exist")
  assert shipped_root() in line
  assert not (tmp_path / "w").exists()


def test_a_shipped_experiment_sweeps_from_anywhere(tmp_path):
  """`synth sweep experiments/<table>.py` from a directory without experiments/ plans the
  package's table, its configs/ paths resolved too (a dry run builds every run's config)."""
  result = synth("sweep", "experiments/cpu_offline.py", f"--root={tmp_path / 'runs'}",
                 "--dry_run", "--only=variant=random,seed=0", cwd=str(tmp_path))
  assert result.returncode == 0, result.stderr
  assert "--config=configs/lm_python_docs.py:variant=random" in result.stdout
  missing = synth("sweep", "experiments/nope.py", f"--root={tmp_path}", cwd=str(tmp_path))
  assert missing.returncode == 2
  assert missing.stderr.startswith("synth: error: sweep: experiment file 'experiments/nope.py' "
                                   "does not exist (here, or among the package's own")


def test_overrides_apply_to_the_runs_own_config_without_a_config_file(tmp_path, capsys):
  """eval/decode/inspect read <workdir>/config.json; --config.a.b=value changes it for the
  command, parsed by the field's type. An unknown field or a bad value is one line, exit 2."""
  import json

  from synth.config import base_config
  (tmp_path / "config.json").write_text(json.dumps(base_config().to_dict()))
  args, config = main.parse_command(
      "eval", [f"--workdir={tmp_path}", "--config.eval.beam_size=1", "--split=test",
               "--config.eval.alpha=0", "--config.model.conv_kernel_sizes=(3, 7)"])
  assert args.split == "test" and args.checkpoint == "latest"
  assert config.eval.beam_size == 1 and config.eval.alpha == 0.0
  assert tuple(config.model.conv_kernel_sizes) == (3, 7)
  for bad, message in (("--config.eval.nope=1", "unknown config field 'eval.nope'"),
                       ("--config.eval.beam_size=wide", "eval.beam_size=wide is not an integer"),
                       ("--config.eval=1", "names a section"),
                       ("--nope=1", "unknown flag --nope")):
    with pytest.raises(SystemExit) as exit_:
      main.parse_command("eval", [f"--workdir={tmp_path}", bad])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("synth: error: ") and message in err and err.count("\n") == 1
