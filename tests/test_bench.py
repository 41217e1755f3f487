"""synth.bench: the FLOP formulas against hand counts, and the benchmark end to end at tiny sizes.

Timings are never asserted: they depend on the machine and its load.
"""
import json
import types

import pytest

from synth.bench import ModelShape, attention_flops, ceiling_flops, forward_flops, main, \
    run_bench, run_compile_bench, token_token_fractions, train_step_flops
from synth.bench.run import bench_cases, cases_records, format_table

# d 8, 2 heads, FFN 16, 1 layer, vocab 10; sequences of n = 4 (so N = max_len = 4).
SHAPE = ModelShape(d_model=8, num_heads=2, d_ff=16, num_layers=1, vocab_size=10, factor_k=3)
N = 4


def test_vanilla_flops_by_hand():
  # Q, K, V, O projections 4 x 2*n*d*d = 4 * 512; QK^T and weights.V 2*n*n*d = 256 each.
  assert attention_flops("vanilla", SHAPE, N, causal=False) == (4 * 512 + 256 + 256, 0)
  # Feed-forward 2 x 2*n*d*f = 2048; output logits 2*n*d*V = 640.
  assert forward_flops("vanilla", SHAPE, 1, N, causal=False) == 2560 + 2048 + 640
  assert train_step_flops("vanilla", SHAPE, 1, N, causal=False) == 3 * (2560 + 2048 + 640)
  assert forward_flops("vanilla", SHAPE, 5, N, causal=False) == 5 * (2560 + 2048 + 640)


def test_random_is_vanilla_without_query_key_work():
  vanilla = forward_flops("vanilla", SHAPE, 1, N, causal=False)
  qk_projections = 2 * (2 * N * 8 * 8)
  qk_transpose = 2 * N * N * 8
  assert forward_flops("random", SHAPE, 1, N, causal=False) == vanilla - qk_projections - \
      qk_transpose
  assert forward_flops("fixed_random", SHAPE, 1, N, causal=False) == \
      forward_flops("random", SHAPE, 1, N, causal=False)


def test_dense_replaces_query_key_work_with_its_logit_mlp():
  random = forward_flops("random", SHAPE, 1, N, causal=False)
  hidden = 2 * N * 8 * 8          # d -> H x d_h
  rows = 2 * 2 * N * (8 // 2) * N  # per head d_h -> N, 2 heads
  assert forward_flops("dense", SHAPE, 1, N, causal=False) == random + hidden + rows
  # A larger max_len makes every row longer.
  assert forward_flops("dense", SHAPE, 1, N, max_len=16, causal=False) == \
      random + hidden + 2 * 2 * N * 4 * 16


def test_factorized_variants_and_mixtures():
  random = forward_flops("random", SHAPE, 1, N, causal=False)
  # Factorized random: R1 R2^T per head, 2 * n*n*k, once per step whatever the batch.
  fr = 2 * 2 * N * N * 3
  assert forward_flops("factorized_random", SHAPE, 1, N, causal=False) == random + fr
  assert forward_flops("factorized_random", SHAPE, 3, N, causal=False) == \
      3 * random + fr
  # Factorized dense with a * b = 4 -> (2, 2): hidden, two small heads, outer products.
  fd = 2 * N * 8 * 8 + 2 * N * 8 * (2 + 2) + 2 * N * 2 * 2
  assert forward_flops("factorized_dense", SHAPE, 1, N, causal=False) == random + fd
  # A mixture is its parts over one shared value/output path.
  vanilla = forward_flops("vanilla", SHAPE, 1, N, causal=False)
  assert forward_flops("random+vanilla", SHAPE, 1, N, causal=False) == vanilla


def test_causal_halves_token_token_products_only():
  full = attention_flops("vanilla", SHAPE, N, causal=False)[0]
  causal = attention_flops("vanilla", SHAPE, N, causal=True)[0]
  assert full - causal == (256 + 256) / 2  # half of QK^T and of weights.V
  # Dense logits are per-token projections: only weights.V halves.
  assert attention_flops("dense", SHAPE, N, causal=False)[0] - \
      attention_flops("dense", SHAPE, N, causal=True)[0] == 256 / 2


def test_unsupported_variant_is_a_clear_error():
  with pytest.raises(ValueError, match="linformer"):
    attention_flops("linformer", SHAPE, N)
  with pytest.raises(ValueError, match="unknown attention variant"):
    attention_flops("nope", SHAPE, N)


ENCODER = ModelShape(kind="encoder_classifier", d_model=8, num_heads=2, d_ff=16, num_layers=1,
                     vocab_size=10, factor_k=3, linformer_k=2, num_classes=3)


def test_encoder_is_bidirectional_with_a_class_head_instead_of_vocabulary_logits():
  # The same layer as the decoder's with causal=False; the head maps one pooled vector to C.
  layer = 2560 + 2048
  assert forward_flops("vanilla", ENCODER, 1, N) == layer + 2 * 8 * 3
  assert forward_flops("vanilla", ENCODER, 5, N) == 5 * (layer + 2 * 8 * 3)
  # Its default is the full square: the decoder shape would count causal halves.
  assert attention_flops("vanilla", ENCODER, N) == attention_flops("vanilla", SHAPE, N,
                                                                   causal=False)
  assert attention_flops("vanilla", SHAPE, N) != attention_flops("vanilla", ENCODER, N)
  assert ceiling_flops("random", ENCODER, 1, N) == train_step_flops("random", ENCODER, 1, N)


def test_linformer_flops_by_hand_and_only_in_the_encoder():
  # Q, K, V, O projections 4 x 2*n*d*d = 512; E^T K, F^T V, Q K'^T, weights . V': 2*n*k*d each.
  assert attention_flops("linformer", ENCODER, N) == (4 * 2 * N * 8 * 8 + 4 * 2 * N * 2 * 8, 0)
  with pytest.raises(ValueError, match="bidirectional only"):
    attention_flops("linformer", ENCODER, N, causal=True)
  with pytest.raises(ValueError, match="model kind"):
    ModelShape(kind="encoder_decoder")


TINY = dict(d_model=16, num_heads=2, d_ff=32, num_layers=1, vocab_size=50, repeats=1, warmup=1,
            peak_size=128, log=None)
TRAIN_FIELDS = {"variant", "attention_impl", "dtype", "seq_len", "batch_size", "tokens_per_step",
                "params", "step_time_s", "step_times_s", "tokens_per_s", "model_flops_per_step",
                "xla_flops_per_step", "ceiling_flops_per_step", "achieved_flops_per_s", "mfu",
                "memory_bytes", "compile_s", "speedup_vs_vanilla", "fastest_vanilla",
                "speedup_vs_fastest_vanilla", "flop_ceiling_vs_fastest_vanilla",
                "of_flop_ceiling"}
DECODE_FIELDS = {"variant", "attention_impl", "dtype", "seq_len", "batch_size", "decoded_tokens",
                 "decode_time_s", "decode_times_s", "tokens_per_s", "cache_bytes",
                 "memory_bytes", "compile_s", "speedup_vs_vanilla", "fastest_vanilla",
                 "speedup_vs_fastest_vanilla", "cache_ratio_vs_vanilla"}


def _check_report(report, mode, fields):
  assert report["mode"] == mode
  assert report["peak"]["flops_per_s"] > 0 and report["peak"]["size"] == 128
  assert report["process_peak_memory"]["source"] in ("device_memory_stats",
                                                     "process_max_rss_delta")
  assert [r["variant"] for r in report["results"]] == ["vanilla", "random"]
  for r in report["results"]:
    assert fields <= set(r), fields - set(r)
    assert r["seq_len"] == 8 and r["tokens_per_s"] > 0
  assert report["results"][0]["speedup_vs_vanilla"] == 1.0


def test_train_bench_end_to_end(tmp_path):
  out = tmp_path / "train.json"
  report = run_bench(["vanilla", "random"], [8], "train", batch_size=2, json_path=str(out),
                     **TINY)
  assert json.loads(out.read_text()) == json.loads(json.dumps(report))
  _check_report(report, "train", TRAIN_FIELDS)
  vanilla, random = report["results"]
  shape = ModelShape(d_model=16, num_heads=2, d_ff=32, num_layers=1, vocab_size=50)
  assert vanilla["model_flops_per_step"] == train_step_flops("vanilla", shape, 2, 8)
  assert random["model_flops_per_step"] < vanilla["model_flops_per_step"]
  assert 0 < vanilla["mfu"] and vanilla["memory_bytes"] > 0
  assert random["params"] == vanilla["params"] - 2 * 16 * 16 + 2 * 8 * 8  # W_Q, W_K -> R


def test_encoder_train_bench_end_to_end(tmp_path):
  out = tmp_path / "encoder.json"
  report = run_bench(["vanilla", "random", "linformer"], [8], "train", batch_size=2,
                     kind="encoder_classifier", json_path=str(out), **TINY)
  assert report["model"]["kind"] == "encoder_classifier"
  assert json.loads(out.read_text())["model"]["kind"] == "encoder_classifier"
  vanilla, random, linformer = report["results"]
  shape = ModelShape(kind="encoder_classifier", d_model=16, num_heads=2, d_ff=32, num_layers=1,
                     vocab_size=50)
  for r in report["results"]:
    assert TRAIN_FIELDS <= set(r) and r["tokens_per_s"] > 0
    assert r["model_flops_per_step"] == train_step_flops(r["variant"], shape, 2, 8)
  # Bidirectional: what runs is what counts, so every ceiling is the model-FLOP ratio.
  assert random["flop_ceiling_vs_fastest_vanilla"] == pytest.approx(
      vanilla["model_flops_per_step"] / random["model_flops_per_step"])
  # Embedding, one layer and a 2-class head: no vocabulary projection beyond the embedding.
  assert vanilla["params"] < 50 * 16 + 16 * 16 * 4 + 2 * 16 * 32 + 16 * 2 + 200
  assert linformer["params"] == vanilla["params"] + 2 * 8 * 32  # E and F, N x k each


def test_decode_bench_end_to_end_from_the_command_line(tmp_path, capsys):
  out = tmp_path / "decode.json"
  code = main(["--mode=decode", "--variants=vanilla,random", "--seq_lens=8", "--batch_size=2",
               "--d_model=16", "--num_heads=2", "--d_ff=32", "--num_layers=1", "--vocab_size=50",
               "--repeats=1", "--warmup=1", "--peak_size=128", f"--json={out}"])
  assert code == 0
  printed = capsys.readouterr().out
  assert "cache vs vanilla" in printed and "random" in printed
  report = json.loads(out.read_text())
  _check_report(report, "decode", DECODE_FIELDS)
  vanilla, random = report["results"]
  # Keys and values (2 x 8 slots x 16 floats x 2 rows) plus two int32 position counters.
  assert vanilla["cache_bytes"] == 2 * 2 * 8 * 16 * 4 + 2 * 4
  assert random["cache_bytes"] == 2 * 8 * 16 * 4 + 2 * 4  # values only
  assert random["cache_ratio_vs_vanilla"] < 0.51


def test_command_line_errors_are_one_line(capsys):
  assert main(["--variants=vanilla,nope", "--seq_lens=8"]) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("synth: error: bench:") and "nope" in err and "\n" not in err
  assert main(["--seq_lens=8,x"]) == 2
  assert main(["--variants=linformer", "--seq_lens=8"]) == 2
  capsys.readouterr()
  assert main(["--mode=decode", "--kind=encoder_classifier", "--seq_lens=8"]) == 2
  err = capsys.readouterr().err.strip()
  assert "does not decode" in err and "\n" not in err
  with pytest.raises(SystemExit) as exit_info:
    main(["--mode=fast"])
  assert exit_info.value.code == 2


def test_ceiling_counts_causal_halves_only_where_an_implementation_skips_them():
  n, shape = 64, SHAPE
  full = train_step_flops("vanilla", shape, 1, n, fractions=(1.0, 1.0))
  model = train_step_flops("vanilla", shape, 1, n)  # MFU convention: causal halves
  assert ceiling_flops("vanilla", shape, 1, n, impl="einsum") == full
  assert ceiling_flops("vanilla", shape, 1, n, impl="xla") == full
  assert ceiling_flops("vanilla", shape, 1, n, impl="cudnn") == model  # flash skips the half
  # Random's P V: the whole square dense, causal_block_fraction of it in blocks of 16 (4 blocks:
  # 10/16 of the square), whatever the platform once the block is given.
  assert token_token_fractions("random", n, causal_block=0) == (1.0, 1.0)
  assert token_token_fractions("random", n, causal_block=16) == (1.0, 10 / 16)
  assert token_token_fractions("factorized_random+random", n, causal_block=16) == (1.0, 10 / 16)
  # Auto: dense on CPU, blocks from 1024 on accelerators.
  assert token_token_fractions("random", 2048, platform="cpu") == (1.0, 1.0)
  assert token_token_fractions("random", 2048, platform="gpu") == (1.0, 36 / 64)
  # Per-example weights (Dense) have no blocked path; vanilla mixtures follow the kernel.
  assert token_token_fractions("dense", n, causal_block=16) == (1.0, 1.0)
  assert token_token_fractions("random+vanilla", n, impl="cudnn") == (0.5, 0.5)
  assert token_token_fractions("vanilla", n, causal=False, impl="cudnn") == (1.0, 1.0)
  pv = 2 * n * n * shape.d_model * shape.num_layers * 3  # one train step's full P V
  assert ceiling_flops("random", shape, 1, n, causal_block=16) == \
      ceiling_flops("random", shape, 1, n, causal_block=0) - pv * 6 / 16


def test_bench_cases_run_an_implementation_only_where_it_changes_something():
  cases = bench_cases(["vanilla", "random", "random+vanilla"], ["einsum", "xla", "cudnn"],
                      ["float32", "bfloat16"])
  assert [c[:3] for c in cases] == [
      ("vanilla", "einsum", "float32"), ("vanilla", "xla", "float32"),
      ("random", "einsum", "float32"), ("random+vanilla", "einsum", "float32"),
      ("random+vanilla", "xla", "float32"),
      ("vanilla", "einsum", "bfloat16"), ("vanilla", "xla", "bfloat16"),
      ("vanilla", "cudnn", "bfloat16"), ("random", "einsum", "bfloat16"),
      ("random+vanilla", "einsum", "bfloat16"), ("random+vanilla", "xla", "bfloat16"),
      ("random+vanilla", "cudnn", "bfloat16")]
  # The default causal_block (-1, auto) is the Random-family's only; elsewhere it is None.
  assert [c[3] for c in cases if c[0] == "random"] == [-1, -1]
  assert all(c[3] is None for c in cases if c[0] != "random")


def test_bench_cases_run_each_causal_block_only_where_blocks_apply():
  variants = ["vanilla", "random", "factorized_random", "dense", "random+dense"]
  cases = bench_cases(variants, ["einsum"], ["float32"], (0, 256))
  assert [(c[0], c[3]) for c in cases] == [
      ("vanilla", None), ("random", 0), ("random", 256), ("factorized_random", 0),
      ("factorized_random", 256), ("dense", None), ("random+dense", None)]
  # Not in the bidirectional encoder, and not when decoding: there is no triangle to skip.
  for kind, mode in (("encoder_classifier", "train"), ("decoder", "decode")):
    assert all(c[3] is None for c in bench_cases(variants, ["einsum"], ["float32"], (0, 256),
                                                 kind, mode))


def _case(variant, impl, dtype, times, ceiling):
  return types.SimpleNamespace(
      variant=variant, impl=impl, dtype=dtype, causal_block=None, seq_len=8, batch=2, tokens=16,
      params=1, times=times, model_flops=100.0, xla_flops=None, ceiling_flops=ceiling,
      memory_bytes=0, compile_s=0.0)


def test_ratio_columns_compare_with_the_fastest_vanilla_of_the_same_dtype():
  cases = [_case("vanilla", "einsum", "float32", [4.0, 4.0, 8.0], 300.0),
           _case("vanilla", "xla", "float32", [2.0, 3.0, 4.0], 300.0),
           _case("random", "einsum", "float32", [1.0, 2.0, 2.0], 200.0),
           _case("vanilla", "einsum", "bfloat16", [1.0, 1.0, 1.0], 300.0),
           _case("random", "einsum", "bfloat16", [2.0, 2.0, 2.0], 200.0)]
  records = cases_records(cases, "train")
  einsum, xla, random, bf16_vanilla, bf16_random = records
  assert einsum["fastest_vanilla"] == "xla" and bf16_random["fastest_vanilla"] == "einsum"
  # Paired per repetition, then the median: einsum/random = 4, 2, 4; xla/random = 2, 1.5, 2.
  assert random["speedup_vs_vanilla"] == 4.0
  assert random["speedup_vs_fastest_vanilla"] == 2.0
  assert xla["speedup_vs_vanilla"] == 2.0 and xla["speedup_vs_fastest_vanilla"] == 1.0
  assert random["flop_ceiling_vs_fastest_vanilla"] == 1.5
  assert random["of_flop_ceiling"] == 2.0 / 1.5
  # bfloat16 rows are compared with bfloat16 vanillas only.
  assert bf16_random["speedup_vs_vanilla"] == 0.5 == bf16_random["speedup_vs_fastest_vanilla"]
  for r in records:
    r["mfu"] = 0.5
  table = format_table({"mode": "train", "results": records})
  header = table.splitlines()[0]
  for column in ("impl", "dtype", "vs einsum vanilla", "vs fastest vanilla", "FLOP ceiling",
                 "of ceiling"):
    assert column in header
  assert "1.50x" in table.splitlines()[4] and "1.33x" in table.splitlines()[4]


def test_train_bench_with_implementations_and_dtypes(tmp_path):
  report = run_bench(["vanilla", "random"], [8], "train", batch_size=2, impls="einsum,xla",
                     dtypes="float32,bfloat16", json_path=str(tmp_path / "r.json"), **TINY)
  labels = [(r["variant"], r["attention_impl"], r["dtype"]) for r in report["results"]]
  assert labels == [("vanilla", "einsum", "float32"), ("vanilla", "xla", "float32"),
                    ("random", "einsum", "float32"), ("vanilla", "einsum", "bfloat16"),
                    ("vanilla", "xla", "bfloat16"), ("random", "einsum", "bfloat16")]
  peaks = report["peaks"]
  assert set(peaks) == {"float32", "bfloat16"} and peaks["bfloat16"]["dtype"] == "bfloat16"
  assert report["peak"] == peaks["float32"]
  for r in report["results"]:
    assert TRAIN_FIELDS <= set(r)
    assert r["mfu"] == r["achieved_flops_per_s"] / peaks[r["dtype"]]["flops_per_s"]
    assert r["fastest_vanilla"] in ("einsum", "xla")


def test_train_bench_times_each_causal_block_side_by_side(tmp_path, capsys):
  out = tmp_path / "blocks.json"
  assert main(["--variants=vanilla,random", "--causal_blocks=0,4", "--seq_lens=8",
               "--batch_size=2", "--d_model=16", "--num_heads=2", "--d_ff=32", "--num_layers=1",
               "--vocab_size=50", "--repeats=1", "--warmup=1", "--peak_size=128",
               f"--json={out}"]) == 0
  assert "block" in capsys.readouterr().out
  report = json.loads(out.read_text())
  assert report["model"]["causal_blocks"] == [0, 4]
  vanilla, dense, blocked = report["results"]
  assert (vanilla["causal_block"], dense["causal_block"], blocked["causal_block"]) == (None, 0, 4)
  # Blocks of 4 at n = 8 skip one of the four 4 x 4 blocks of P V; the model FLOPs are the same.
  assert blocked["ceiling_flops_per_step"] < dense["ceiling_flops_per_step"]
  assert blocked["model_flops_per_step"] == dense["model_flops_per_step"]
  assert blocked["flop_ceiling_vs_fastest_vanilla"] > dense["flop_ceiling_vs_fastest_vanilla"]


def test_compile_bench_reports_both_stacks(tmp_path):
  report = run_compile_bench(["random"], 8, [1, 2], 2, d_model=16, num_heads=2, d_ff=32,
                             vocab_size=50, json_path=str(tmp_path / "c.json"), log=None)
  rows = [(r["num_layers"], r["scan_layers"]) for r in report["results"]]
  assert rows == [(1, False), (1, True), (2, False), (2, True)]
  for unrolled, scanned in zip(report["results"][::2], report["results"][1::2]):
    assert scanned["params"] == unrolled["params"]
    assert scanned["scan_vs_unrolled"] == scanned["compile_s"] / unrolled["compile_s"]


def test_implementation_errors_are_one_line(capsys):
  for args in (["--impls=flash"], ["--impls=cudnn", "--dtypes=bfloat16"],
               ["--dtypes=float16"], ["--compile_layers=0"], ["--causal_blocks=x"],
               ["--causal_blocks=-2"]):
    assert main(["--variants=vanilla", "--seq_lens=8", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("synth: error: bench:") and "\n" not in err, err
