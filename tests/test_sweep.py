"""The sweep engine: grid expansion, --only, workdirs, skip/resume decisions, the subprocess
argument lists, scheduling after parents, and one real (tiny) sweep through `synth`."""
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from synth.sweep import api, grid, local, status, table
from synth.sweep.spec import Metric, load_experiment, split_experiment_spec
from train_helpers import REPO, tiny_overrides

EXPERIMENTS = os.path.join(REPO, "experiments")


def experiment_path(name: str) -> str:
  return os.path.join(EXPERIMENTS, f"{name}.py")


@pytest.mark.parametrize("name", ["mt_lm", "text_generation", "glue_superglue", "c4_vs_conv",
                                  "linformer", "cpu_offline"])
def test_every_experiment_plans_with_its_config_files(name, tmp_path):
  plans = api.plans_for(experiment_path(name), str(tmp_path))
  experiment = load_experiment(experiment_path(name))
  expected = sum(len(experiment.task_variants(t)) for t in experiment.tasks) * len(
      experiment.seeds)
  assert len(plans) == expected
  assert len({p.run.workdir for p in plans}) == len(plans)  # unique workdirs
  for p in plans:
    assert p.num_steps > 0 and p.train[0] == "train"
    assert all(isinstance(a, str) for a in p.train)


@pytest.mark.parametrize("sizing", ["cpu", "gpu"])
def test_offline_mid_sizings_plan_the_same_tasks_lm_first(sizing, tmp_path):
  spec = experiment_path("offline_mid") + f":sizing={sizing}"
  experiment = load_experiment(spec)
  plans = api.plans_for(spec, str(tmp_path))
  assert experiment.name == f"offline_mid_{sizing}" and len(experiment.seeds) >= 2
  assert {"vanilla", "fixed_random", "random", "dense", "random+vanilla"} <= set(
      experiment.variants)
  assert len(plans) == len(experiment.variants) * 3 * len(experiment.seeds)
  assert plans[0].run.task.name == "lm_python_docs"  # the most telling runs come first
  lm = grid.resolve_config(plans[0].run, api.repo_root(spec))
  assert lm.model.num_decoder_layers >= 4 and lm.data.seq_len >= 256
  assert lm.train.eval_every > 0  # eval-loss curves


def test_offline_mid_rejects_an_unknown_sizing(tmp_path):
  with pytest.raises(ValueError, match="sizing must be one of cpu, gpu, got 'tpu'"):
    load_experiment(experiment_path("offline_mid") + ":sizing=tpu")


def test_cpu_offline_grid_layout_and_only(tmp_path):
  experiment = load_experiment(experiment_path("cpu_offline"))
  root = str(tmp_path)
  runs = grid.expand(experiment, root)
  assert len(runs) == 9 * 3 * 3
  assert runs[0].workdir == os.path.join(root, "cpu_offline", "lm_python_docs", "vanilla",
                                         "seed0")
  assert {r.workdir for r in grid.expand(experiment, root, "variant=random+vanilla")} == {
      os.path.join(root, "cpu_offline", t, "random+vanilla", f"seed{s}")
      for t in ("lm_python_docs", "offline_ende", "offline_sentiment") for s in (0, 1, 2)}
  picked = grid.expand(experiment, root, ["variant=dense,variant=random", "seed=1"])
  assert sorted((r.task.name, r.variant, r.seed) for r in picked) == sorted(
      (t.name, v, 1) for t in experiment.tasks for v in ("dense", "random"))
  with pytest.raises(ValueError, match="--only takes variant|task|seed"):
    grid.expand(experiment, root, "model=dense")
  with pytest.raises(ValueError, match="matches no run"):
    grid.expand(experiment, root, "variant=nope")


def test_fine_tunes_follow_and_use_their_pretraining_run(tmp_path):
  plans = api.plans_for(experiment_path("glue_superglue"), str(tmp_path), "task=glue_cola")
  assert [p.run.name for p in plans] == ["c4_span/vanilla/seed0", "c4_span/random+vanilla/seed0",
                                         "glue_cola/vanilla/seed0",
                                         "glue_cola/random+vanilla/seed0"]
  pre, fine = plans[0], plans[2]
  assert f"--config=configs/glue.py:variant=vanilla,task=cola,pretrained={pre.run.workdir}" \
      in fine.train
  # The fine-tune reads the pre-training run's vocabulary, which is shared per task.
  shared = os.path.join(str(tmp_path), "glue_superglue", "c4_span", "vocab", "spm_32028.model")
  assert pre.vocab_path == fine.vocab_path == shared
  assert f"--config.data.vocab_path={shared}" in fine.train
  assert fine.evals == [["eval", f"--workdir={fine.run.workdir}", "--checkpoint=best",
                         "--split=validation"]]


def test_train_and_eval_argument_lists(tmp_path):
  plan = api.plans_for(experiment_path("cpu_offline"), str(tmp_path),
                       "variant=random+vanilla,seed=2,task=offline_ende")[0]
  workdir = os.path.join(str(tmp_path), "cpu_offline", "offline_ende", "random+vanilla", "seed2")
  assert plan.train[:3] == ["train", "--config=configs/offline_ende.py:variant=random+vanilla",
                            f"--workdir={workdir}"]
  assert "--config.seed=2" in plan.train and "--config.train.num_steps=200" in plan.train
  assert "--config.eval.method=greedy" in plan.train
  assert plan.num_steps == 200
  assert grid.synth_args(plan.train)[:3] == [sys.executable, "-m", "synth.main"]
  assert plan.evals == [["eval", f"--workdir={workdir}", "--checkpoint=latest",
                         "--split=validation"]]


def test_override_values_reach_the_trainer_unchanged():
  """What a sweep passes as --config.a.b=text flags, `synth train` reads back as the same
  values: the flags and their parsing are one module (synth.config)."""
  from synth.config import load_config, override_flags, split_override_flags
  from synth.config import ConfigError
  overrides = {"data.train_files": "my dir/a b,c=d.txt", "model.remat": True,
               "optimizer.learning_rate": 1e-3, "model.conv_kernel_sizes": (3, 7),
               "train.num_steps": 12, "data.label_names": ("neg", "pos")}
  flags = override_flags(overrides)
  assert flags[1] == "--config.model.remat=true"
  texts, rest = split_override_flags(["--workdir=x", *flags])
  assert rest == ["--workdir=x"]
  via_flags = load_config("configs/lm_python_docs.py", texts)
  direct = load_config("configs/lm_python_docs.py", overrides)
  for name, value in overrides.items():
    section, field = name.split(".")
    assert via_flags[section][field] == direct[section][field] == value
  # The case that must fail: text that is not of the field's type is an error, not a string.
  with pytest.raises(ConfigError, match="train.num_steps=12.5 is not an integer"):
    load_config("configs/lm_python_docs.py", {"train.num_steps": "12.5"})


def test_commands_run_without_a_shell(tmp_path, monkeypatch):
  calls = []
  real_run = subprocess.run

  def spy(argv, **kwargs):
    calls.append((argv, kwargs))
    return real_run(argv, **kwargs)

  monkeypatch.setattr(local.subprocess, "run", spy)
  log = str(tmp_path / "run" / "sweep.log")
  code = local.run_logged([sys.executable, "-c", "import sys; print(sys.argv[1:])", "a b; ls",
                           "$HOME"], log, cwd=str(tmp_path))
  assert code == 0
  argv, kwargs = calls[0]
  assert isinstance(argv, list) and not kwargs.get("shell")
  with open(log) as f:
    assert "['a b; ls', '$HOME']" in f.read()  # no shell: nothing was split or expanded


# --------------------------------------------------------------------------------------------------
# Skip finished runs, resume unfinished ones (runs faked by writing their files).
# --------------------------------------------------------------------------------------------------

def fake_run(workdir, checkpoints=(), evals=(), source="eval", loss=1.0):
  for step in checkpoints:
    os.makedirs(os.path.join(workdir, "checkpoints", str(step)), exist_ok=True)
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "eval_results.jsonl"), "a") as f:
    for step, split in evals:
      f.write(json.dumps({"step": step, "split": split, "loss": loss, "source": source}) + "\n")


def test_best_checkpoint_tasks_need_synth_eval_not_the_trainers_row(tmp_path):
  """The trainer's final row is for its last step: it finishes a 'latest' task, never a 'best'
  one, and a best-checkpoint table cell never reads it."""
  (plan,) = [p for p in api.plans_for(experiment_path("glue_superglue"), str(tmp_path),
                                      "task=glue_rte,variant=vanilla,seed=0")
             if p.run.task.name == "glue_rte"]  # not its pre-training parent
  assert plan.run.task.checkpoint == "best"
  n, wd = plan.num_steps, plan.run.workdir
  fake_run(wd, checkpoints=[n // 2, n], evals=[(n, "validation")], source="train", loss=2.0)
  assert status.missing_evals(plan) == ["validation"]
  assert status.run_status(plan) == (status.Status.TRAINED, n)
  metric = Metric("loss", "loss", higher_is_better=False)
  assert table.eval_value(wd, metric, "best") is None
  assert table.eval_value(wd, metric, "latest") == 2.0
  fake_run(wd, evals=[(n // 2, "validation")], loss=1.5)  # synth eval --checkpoint=best
  assert status.missing_evals(plan) == [] and status.run_status(plan)[0] is status.Status.FINISHED
  assert table.eval_value(wd, metric, "best") == 1.5


LM_ONLY = "task=lm_python_docs,seed=0,variant=vanilla,variant=random,variant=dense," \
          "variant=fixed_random"


def lm_plans(tmp_path):
  """(new, partial, trained, finished)-to-be plans: vanilla, random, dense, fixed_random."""
  plans = {p.run.variant: p for p in api.plans_for(experiment_path("cpu_offline"),
                                                   str(tmp_path), LM_ONLY)}
  return [plans[v] for v in ("vanilla", "random", "dense", "fixed_random")]


def test_status_of_fake_runs(tmp_path):
  new, partial, trained, finished = lm_plans(tmp_path)
  n = new.num_steps
  fake_run(partial.run.workdir, checkpoints=[100, 200])
  fake_run(trained.run.workdir, checkpoints=[200, n], evals=[(200, "validation")])
  fake_run(finished.run.workdir, checkpoints=[n], evals=[(n, "validation")])
  os.makedirs(os.path.join(new.run.workdir, "checkpoints", "100.orbax-checkpoint-tmp-1"))
  assert status.run_status(new) == (status.Status.NEW, None)
  assert status.run_status(partial) == (status.Status.PARTIAL, 200)
  assert status.run_status(trained) == (status.Status.TRAINED, n)  # eval of 200 is stale
  assert status.run_status(finished) == (status.Status.FINISHED, n)


def test_execute_skips_finished_and_resumes_the_rest(tmp_path):
  plans = lm_plans(tmp_path)
  new, partial, trained, finished = plans
  n = new.num_steps
  fake_run(partial.run.workdir, checkpoints=[100])
  fake_run(trained.run.workdir, checkpoints=[n])
  fake_run(finished.run.workdir, checkpoints=[n], evals=[(n, "validation")])
  commands = []

  def runner(argv, log, cwd):
    """Stands in for `synth`: training writes the last checkpoint, eval writes its row."""
    commands.append(argv)
    workdir = next(a.split("=", 1)[1] for a in argv if a.startswith("--workdir="))
    if argv[3] == "train":
      fake_run(workdir, checkpoints=[n])
    else:
      fake_run(workdir, evals=[(n, "validation")])
    return 0

  lines = []
  outcomes = [local.execute(p, REPO, lines.append, runner) for p in plans]
  assert [o.result for o in outcomes] == ["finished"] * 4
  workdir_of = lambda argv: next(a.split("=", 1)[1] for a in argv if a.startswith("--workdir="))
  verbs = [(workdir_of(c).split(os.sep)[-2], c[3]) for c in commands]
  assert verbs == [("vanilla", "train"), ("vanilla", "eval"), ("random", "train"),
                   ("random", "eval"), ("dense", "eval")]
  assert "lm_python_docs/random/seed0: resuming from step 100" in "\n".join(lines)
  assert f"lm_python_docs/fixed_random/seed0: finished (step {n}), skipped" in lines


def test_execute_records_each_commands_wall_time(tmp_path):
  plan = lm_plans(tmp_path)[0]
  n = plan.num_steps

  def runner(argv, log, cwd):
    time.sleep(0.05)
    if argv[3] == "train":
      fake_run(plan.run.workdir, checkpoints=[n])
      return 0
    return 3  # a failing eval is timed too

  assert local.execute(plan, REPO, lambda m: None, runner).result == "failed"
  rows = [json.loads(line) for line in open(os.path.join(plan.run.workdir, local.TIMES_FILE))]
  assert [(r["command"], r["exit"]) for r in rows] == [("train", 0), ("eval", 3)]
  assert all(r["wall_s"] >= 0.05 for r in rows)
  assert rows[0]["args"] == plan.train[1:]
  assert local.wall_seconds(plan.run.workdir) == pytest.approx(sum(r["wall_s"] for r in rows))
  assert local.wall_seconds(str(tmp_path / "never_ran")) is None


EXPERIMENT_WITH_ARGS = textwrap.dedent("""
    from synth.config import parse_config_args
    from synth.sweep import Experiment, Metric, Task

    def get_experiment(arg=None):
      args = parse_config_args(arg, sizing="small")
      steps = {"small": 10, "big": 1000}[args["sizing"]]
      return Experiment(
          name=f"sized_{args['sizing']}", title="sized", variants=("vanilla",),
          tasks=(Task("lm", "configs/lm_python_docs.py",
                      overrides={"train.num_steps": steps},
                      metrics=(Metric("ppl", "perplexity", higher_is_better=False),)),))
""")


def test_experiment_files_take_arguments_like_config_files(tmp_path):
  os.makedirs(tmp_path / "experiments")
  os.symlink(os.path.join(REPO, "configs"), tmp_path / "configs")
  path = str(tmp_path / "experiments" / "sized.py")
  with open(path, "w") as f:
    f.write(EXPERIMENT_WITH_ARGS)
  assert load_experiment(path).name == "sized_small"  # no argument: the file's default
  assert load_experiment(f"{path}:sizing=big").name == "sized_big"
  assert api.repo_root(f"{path}:sizing=big") == str(tmp_path)
  plans = api.plans_for(f"{path}:sizing=big", str(tmp_path / "runs"))
  assert [p.num_steps for p in plans] == [1000]
  assert plans[0].run.workdir == str(tmp_path / "runs" / "sized_big" / "lm" / "vanilla" / "seed0")
  with pytest.raises(ValueError, match="unknown config argument 'size'"):
    load_experiment(f"{path}:size=big")
  with pytest.raises(ValueError, match="takes no arguments"):
    load_experiment(experiment_path("cpu_offline") + ":sizing=cpu")
  assert split_experiment_spec("e/x.py:a=1,b=2") == ("e/x.py", "a=1,b=2")
  assert split_experiment_spec("e/x.py") == ("e/x.py", None)


def test_sweep_cli_reports_a_bad_experiment_argument_in_one_line(tmp_path, capsys):
  from synth.sweep import cli
  code = cli.sweep_main([experiment_path("cpu_offline") + ":sizing=cpu", f"--root={tmp_path}"])
  err = capsys.readouterr().err
  assert code == 2 and err.count("\n") == 1 and "takes no arguments" in err


def test_no_eval_process_when_training_recorded_the_final_eval(tmp_path):
  plan = lm_plans(tmp_path)[0]
  n, commands = plan.num_steps, []

  def runner(argv, log, cwd):
    commands.append(argv[3])
    fake_run(plan.run.workdir, checkpoints=[n], evals=[(n, "validation")])
    return 0

  assert local.execute(plan, REPO, lambda m: None, runner).result == "finished"
  assert commands == ["train"]


def test_dry_run_prints_commands_and_status(tmp_path):
  plans = lm_plans(tmp_path)
  n = plans[0].num_steps
  fake_run(plans[3].run.workdir, checkpoints=[n], evals=[(n, "validation")])
  fake_run(plans[1].run.workdir, checkpoints=[100])
  lines = []
  outcomes = api.sweep(experiment_path("cpu_offline"), str(tmp_path), only=LM_ONLY,
                       dry_run=True, say=lines.append)
  assert [o.result for o in outcomes] == ["planned"] * 4
  text = "\n".join(lines)
  assert f"# lm_python_docs/random/seed0: partial at step 100/{n}" in text
  assert f"# lm_python_docs/fixed_random/seed0: finished at step {n}/{n}" in text
  assert sum(line.startswith(sys.executable) and " train " in line for line in lines) == 3
  evals = [line for line in lines if line.startswith(sys.executable) and " eval " in line]
  assert len(evals) == 3 and all(line.endswith("# if training did not record it")
                                 for line in evals)
  assert not os.path.exists(plans[0].run.workdir)  # a dry run writes nothing


def test_schedule_runs_children_after_parents_and_skips_after_failures(tmp_path):
  plans = api.plans_for(experiment_path("glue_superglue"), str(tmp_path),
                        "task=glue_cola,task=glue_rte")
  started, lock = [], threading.Lock()

  def work(plan, slot):
    with lock:
      started.append((plan.run.name, slot))
    time.sleep(0.05)
    failed = plan.run.name == "c4_span/random+vanilla/seed0"
    return local.Outcome(plan.run.name, plan.run.workdir, "failed" if failed else "finished")

  outcomes = {o.name: o.result for o in local.schedule(plans, work, 2, lambda m: None)}
  names = [n for n, _ in started]
  assert names[:2] == ["c4_span/vanilla/seed0", "c4_span/random+vanilla/seed0"]
  assert {slot for _, slot in started} == {0, 1}
  assert outcomes["glue_cola/vanilla/seed0"] == "finished"
  assert outcomes["glue_cola/random+vanilla/seed0"] == "skipped"
  assert outcomes["glue_rte/random+vanilla/seed0"] == "skipped"
  assert "glue_rte/random+vanilla/seed0" not in names


def test_runs_sharing_an_untrained_vocabulary_wait_for_the_first(tmp_path):
  plans = api.plans_for(experiment_path("cpu_offline"), str(tmp_path),
                        "variant=vanilla,variant=random,seed=0")
  after = local.vocab_leaders(plans)
  assert after == {"lm_python_docs/random/seed0": "lm_python_docs/vanilla/seed0",
                   "offline_ende/random/seed0": "offline_ende/vanilla/seed0",
                   "offline_sentiment/random/seed0": "offline_sentiment/vanilla/seed0"}
  order, lock = [], threading.Lock()

  def work(plan, slot):
    with lock:
      order.append(plan.run.name)
    time.sleep(0.02)
    return local.Outcome(plan.run.name, plan.run.workdir, "finished")

  local.schedule(plans, work, 2, lambda m: None, after=after)
  for follower, leader in after.items():
    assert order.index(leader) < order.index(follower)
  vocab = plans[0].vocab_path
  os.makedirs(os.path.dirname(vocab))
  open(vocab, "w").close()
  assert "lm_python_docs/random/seed0" not in local.vocab_leaders(plans)  # trained already


# --------------------------------------------------------------------------------------------------
# One real sweep: a 1-run experiment of the tiny LM, trained and evaluated through `synth`.
# --------------------------------------------------------------------------------------------------

def test_real_sweep_trains_evaluates_then_skips(tmp_path, monkeypatch):
  vocab_dir = tmp_path / "vocab"
  overrides = tiny_overrides(str(vocab_dir / "spm_500.model"),
                             **{"train.num_steps": 4, "train.eval_every": 0})
  del overrides["data.vocab_path"]  # the sweep shares one per task
  exp_dir = tmp_path / "experiments"
  exp_dir.mkdir()
  os.symlink(os.path.join(REPO, "configs"), tmp_path / "configs")
  (exp_dir / "tiny.py").write_text(textwrap.dedent(f"""
      from synth.sweep import Experiment, Metric, Task
      EXPERIMENT = Experiment(
          name="tiny", title="Tiny", variants=("random",), seeds=(0,),
          tasks=(Task("lm", "configs/lm_python_docs.py", overrides={overrides!r},
                      metrics=(Metric("ppl", "perplexity", higher_is_better=False),)),))
  """))
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
  root = str(tmp_path / "runs")
  outcomes = api.sweep(str(exp_dir / "tiny.py"), root, say=lambda m: None)
  workdir = os.path.join(root, "tiny", "lm", "random", "seed0")
  with open(os.path.join(workdir, "sweep.log")) as f:
    log = f.read()
  assert [o.result for o in outcomes] == ["finished"], log[-3000:]
  rows = status.eval_rows(workdir)
  assert [(r["step"], r["split"]) for r in rows] == [(4, "validation")]
  assert "synth.main train" in log and "synth.main eval" not in log  # the trainer recorded it
  assert os.path.exists(os.path.join(root, "tiny", "lm", "vocab", "spm_500.model"))  # shared

  lines = []
  assert [o.result for o in api.sweep(str(exp_dir / "tiny.py"), root, say=lines.append)] == [
      "finished"]
  assert "lm/random/seed0: finished (step 4), skipped" in lines
