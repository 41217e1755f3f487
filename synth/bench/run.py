"""run_bench: every variant at every length, timed side by side, as a table and JSON.

The model is a causal decoder LM or, with kind='encoder_classifier', a bidirectional encoder
with a pooled classification head (the paper's encoding tasks), both at the same sizes.

Variants are timed INTERLEAVED: each repetition runs every variant once, starting from a
different variant each time, so a noisy neighbour or a frequency change slows all variants alike
instead of one. The reported time is the median of the timed repetitions that follow the warmup
repetitions; ratios to vanilla are medians of per-repetition ratios (see _add_ratios). One
length at a time is built, timed and freed, so memory holds one length's models (a Random
Synthesizer at n = 2048 alone has 6 x 8 x 2048^2 = 201M parameters), and the JSON report is
rewritten after each length.

Cases are (variant, attention_impl, dtype, causal_block) tuples (bench_cases): every
implementation of vanilla is timed, and every causal_block of a Random-family variant in the
causal LM (where blocking skips the masked triangle of P V). Each variant is compared with the
FASTEST vanilla of its compute dtype on the device (speedup_vs_fastest_vanilla) beside its
FLOP ceiling against that vanilla (vanilla's executed FLOPs over the variant's,
synth.bench.flops.ceiling_flops): a ratio near its ceiling means the
variant gains what doing less arithmetic allows, and one far above it means the baseline is slow
for reasons other than arithmetic. speedup_vs_vanilla keeps the comparison with the einsum vanilla.

With profile_dir, each case then runs PROFILE_STEPS more steps under jax.profiler, after its
length's timed repetitions: the traces cost no timed step anything, and show the compiled step
that was timed.
"""
import json
import os
import platform as host_platform

import jax

from synth.attention import VARIANTS, parse_variant
from synth.attention.causal_blocks import AUTO, check_block
from synth.attention.random import SHARED_WEIGHT_VARIANTS
from synth.attention.fused import IMPLS
from synth.bench.cases import DecodeCase, TrainCase, model_config
from synth.bench.flops import ModelShape, attention_flops
from synth.models.config import DTYPES
from synth.bench.measure import MatmulProbe, PeakMemory, median, profile, timed

MODES = ("train", "decode")
BASELINE = "vanilla"
# Steps traced per case with --profile (a decode "step" decodes the whole sequence).
PROFILE_STEPS = 2


def resolve_variants(variants) -> tuple[str, ...]:
  """'all' (or ['all']) -> every base variant; otherwise each name is checked now."""
  if isinstance(variants, str):
    variants = [v for v in variants.split(",") if v.strip()]
  variants = [v.strip() for v in variants]
  if variants == ["all"]:
    return VARIANTS
  if not variants:
    raise ValueError("no attention variants to benchmark")
  for v in variants:
    parse_variant(v)
  if len(set(variants)) != len(variants):
    raise ValueError(f"variants repeat: {', '.join(variants)}")
  return tuple(variants)


def blocks_apply(variant: str, kind: str = "decoder", mode: str = "train") -> bool:
  """Whether model.causal_block changes `variant` in a `mode` case of a model of `kind`: only a
  causal LM's Random-family attention (one weight matrix for the batch) multiplies P V in
  blocks, over a whole sequence (a decoding step attends one query to its cache)."""
  return (mode == "train" and kind == "decoder"
          and all(p in SHARED_WEIGHT_VARIANTS for p in parse_variant(variant)))


def bench_cases(variants, impls, dtypes, causal_blocks=(AUTO,), kind: str = "decoder",
                mode: str = "train") -> list[tuple[str, str, str, int | None]]:
  """(variant, attention_impl, dtype, causal_block) of every case, dtype-major. The
  implementation only changes variants with a dot-product component, so the others run once per
  dtype (with einsum, the only path they have); cudnn runs in bfloat16 only (it takes no
  float32). Each causal_block runs only where it changes something (blocks_apply); elsewhere
  the case's causal_block is None."""
  cases = []
  for dtype in dtypes:
    for v in variants:
      blocks = causal_blocks if blocks_apply(v, kind, mode) else (None,)
      for impl in (impls if "vanilla" in parse_variant(v) else ("einsum",)):
        if not (impl == "cudnn" and dtype == "float32"):
          cases += [(v, impl, dtype, block) for block in blocks]
  return cases


def _names(value, choices, what: str) -> tuple[str, ...]:
  """A comma string or list -> a tuple of names, each checked against `choices`."""
  names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value)
           if v.strip()]
  bad = [v for v in names if v not in choices]
  if bad or not names:
    raise ValueError(f"{what} {', '.join(bad) or '(none)'}: choose from {', '.join(choices)}")
  return tuple(dict.fromkeys(names))


def _blocks(value) -> tuple[int, ...]:
  """A comma string, an int or a list of model.causal_block values -> a tuple of ints."""
  if isinstance(value, int):
    return (value,)
  items = value.split(",") if isinstance(value, str) else value
  try:
    blocks = tuple(dict.fromkeys(int(v) for v in items if str(v).strip()))
  except ValueError:
    raise ValueError(f"causal blocks {value!r}: give integers (0 dense, -1 auto, or a block "
                     f"size)") from None
  if not blocks:
    raise ValueError("causal blocks: give at least one (0 dense, -1 auto, or a block size)")
  return blocks


def default_batch(mode: str, seq_len: int, platform: str) -> int:
  """Rows per step when none is given: about 4k tokens per train step on CPU (a step of the base
  model then takes seconds), 32k on accelerators; 8 rows when decoding."""
  if mode == "decode":
    return 8
  tokens = 4096 if platform == "cpu" else 32768
  return max(1, tokens // seq_len)


def _single_device_mesh(device):
  from synth.config import base_config
  from synth.parallel import make_mesh
  return make_mesh(base_config().mesh, [device])


def _time_interleaved(cases, repeats: int, warmup: int, probes=()) -> None:
  """Appends each case's timed repetitions to case.times (see the module doc); each matmul
  probe runs once in every repetition too."""
  for case in cases:
    case.times = []
  for rep in range(warmup + repeats):
    shift = rep % len(cases)
    for case in cases[shift:] + cases[:shift]:
      _, seconds = timed(case.run)
      if rep >= warmup:
        case.times.append(seconds)
    for probe in probes:
      probe.measure(1)


def _train_record(case) -> dict:
  step = median(case.times)
  achieved = case.model_flops / step
  return {"variant": case.variant, "attention_impl": case.impl, "dtype": case.dtype,
          "causal_block": case.causal_block, "seq_len": case.seq_len, "batch_size": case.batch,
          "tokens_per_step": case.tokens, "params": case.params, "step_time_s": step,
          "step_times_s": case.times, "tokens_per_s": case.tokens / step,
          "model_flops_per_step": case.model_flops, "xla_flops_per_step": case.xla_flops,
          "ceiling_flops_per_step": case.ceiling_flops,
          "achieved_flops_per_s": achieved, "mfu": None,  # set once the peak is final
          "memory_bytes": case.memory_bytes, "compile_s": case.compile_s}


def _decode_record(case) -> dict:
  run = median(case.times)
  return {"variant": case.variant, "attention_impl": case.impl, "dtype": case.dtype,
          "causal_block": case.causal_block, "seq_len": case.seq_len, "batch_size": case.batch,
          "decoded_tokens": case.tokens, "decode_time_s": run, "decode_times_s": case.times,
          "tokens_per_s": case.tokens / run, "cache_bytes": case.cache_bytes,
          "memory_bytes": case.memory_bytes, "compile_s": case.compile_s}


def cases_records(cases, mode: str) -> list[dict]:
  """JSON records of timed cases of one length, with their ratios to vanilla."""
  records = [_train_record(c) if mode == "train" else _decode_record(c) for c in cases]
  _add_ratios(records, mode)
  return records


def _paired(base, record, key: str):
  """Median over repetitions of base's time / the record's time in the same repetition."""
  return median([b / t for b, t in zip(base[key], record[key])]) if base else None


def _add_ratios(records: list[dict], mode: str) -> None:
  """Within each compute dtype (a bfloat16 variant is compared with bfloat16 vanillas):

  speedup_vs_vanilla: against the einsum vanilla (> 1: faster); speedup_vs_fastest_vanilla:
  against the vanilla implementation with the lowest median time, named in fastest_vanilla. Each
  is the median over repetitions of the two times of the same repetition: pairing runs seconds
  apart cancels load that drifts over minutes, which a ratio of the two medians would not.
  Train mode adds flop_ceiling_vs_fastest_vanilla (that vanilla's executed FLOPs over the
  record's) and of_flop_ceiling (the measured ratio over the ceiling). Decode compares cache
  sizes with the einsum vanilla. None where the vanilla in question was not run.
  """
  key = "step_times_s" if mode == "train" else "decode_times_s"
  for dtype in dict.fromkeys(r["dtype"] for r in records):
    group = [r for r in records if r["dtype"] == dtype]
    vanillas = [r for r in group if r["variant"] == BASELINE]
    base = next((r for r in vanillas if r["attention_impl"] == "einsum"), None)
    fastest = min(vanillas, key=lambda r: median(r[key])) if vanillas else None
    for r in group:
      r["speedup_vs_vanilla"] = _paired(base, r, key)
      r["fastest_vanilla"] = fastest["attention_impl"] if fastest else None
      r["speedup_vs_fastest_vanilla"] = _paired(fastest, r, key)
      if mode == "train":
        ceiling = (fastest["ceiling_flops_per_step"] / r["ceiling_flops_per_step"] if fastest
                   else None)
        r["flop_ceiling_vs_fastest_vanilla"] = ceiling
        r["of_flop_ceiling"] = r["speedup_vs_fastest_vanilla"] / ceiling if fastest else None
      else:
        r["cache_ratio_vs_vanilla"] = r["cache_bytes"] / base["cache_bytes"] if base else None


def _fmt_bytes(n) -> str:
  if n is None:
    return "-"
  for unit in ("B", "KiB", "MiB", "GiB"):
    if abs(n) < 1024 or unit == "GiB":
      return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
    n /= 1024


def _ratio(x) -> str:
  return "-" if x is None else f"{x:.2f}x"


def _block(block) -> str:
  """A case's causal_block in the table: '-' where it changes nothing, 'auto' for -1."""
  return "-" if block is None else "auto" if block == AUTO else str(block)


def format_table(report: dict) -> str:
  """The results as a fixed-width table, one row per (length, variant)."""
  if report["mode"] == "train":
    head = ("seq", "variant", "impl", "dtype", "block", "batch", "step ms", "tokens/s",
            "GFLOP/step", "MFU", "vs einsum vanilla", "vs fastest vanilla", "FLOP ceiling",
            "of ceiling", "memory", "compile s")
    rows = [(r["seq_len"], r["variant"], r["attention_impl"], r["dtype"],
             _block(r["causal_block"]), r["batch_size"], f"{r['step_time_s'] * 1e3:.1f}",
             f"{r['tokens_per_s']:.0f}", f"{r['model_flops_per_step'] / 1e9:.1f}",
             f"{r['mfu'] * 100:.1f}%", _ratio(r["speedup_vs_vanilla"]),
             _ratio(r["speedup_vs_fastest_vanilla"]),
             _ratio(r["flop_ceiling_vs_fastest_vanilla"]), _ratio(r["of_flop_ceiling"]),
             _fmt_bytes(r["memory_bytes"]), f"{r['compile_s']:.1f}") for r in report["results"]]
  else:
    head = ("seq", "variant", "impl", "dtype", "batch", "run ms", "tokens/s",
            "vs einsum vanilla", "vs fastest vanilla", "cache", "cache vs vanilla", "memory",
            "compile s")
    rows = [(r["seq_len"], r["variant"], r["attention_impl"], r["dtype"], r["batch_size"],
             f"{r['decode_time_s'] * 1e3:.1f}", f"{r['tokens_per_s']:.0f}",
             _ratio(r["speedup_vs_vanilla"]), _ratio(r["speedup_vs_fastest_vanilla"]),
             _fmt_bytes(r["cache_bytes"]), _ratio(r["cache_ratio_vs_vanilla"]),
             _fmt_bytes(r["memory_bytes"]), f"{r['compile_s']:.1f}") for r in report["results"]]
  cells = [tuple(map(str, head))] + [tuple(map(str, r)) for r in rows]
  widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
  lines = ["  ".join(c.rjust(w) if i > 3 else c.ljust(w) for i, (c, w) in
                     enumerate(zip(row, widths))) for row in cells]
  lines.insert(1, "  ".join("-" * w for w in widths))
  return "\n".join(lines)


def profile_path(profile_dir: str, mode: str, case, seq_len: int) -> str:
  """Where one case's trace goes: one TensorBoard run per case under profile_dir; einsum float32
  cases keep the plain <mode>_<variant>_<seq_len> name."""
  tags = [t for t in (case.impl, case.dtype) if t not in ("einsum", "float32")]
  if case.causal_block not in (None, AUTO):
    tags.append(f"block{case.causal_block}")
  return os.path.join(profile_dir, "_".join([mode, case.variant, *tags, str(seq_len)]))


def profile_help(profile_dir: str) -> str:
  """How to look at the traces (printed after the run)."""
  return (f"profiler traces ({PROFILE_STEPS} steps per case, after the timed ones) in "
          f"{profile_dir}/<mode>_<variant>_<seq_len>; view with `xprof --logdir {profile_dir}` "
          f"(pip install xprof; or tensorboard --logdir {profile_dir} with xprof installed: "
          f"Profile tab), or open a perfetto_trace.json.gz in https://ui.perfetto.dev")


def check_args(variants, seq_lens, mode: str, batch_size, repeats: int, warmup: int, *,
               impls=("einsum",), dtypes=("float32",), causal_blocks=(AUTO,),
               platform: str | None = None, **sizes):
  """Validates run_bench's arguments before any work: (variants, lengths, model shape, cases).

  Raises ValueError with a one-line message (unknown variant, implementation, dtype, mode or
  model kind, bad sizes, a variant the model cannot run, decoding an encoder, cudnn off a GPU or
  without bfloat16).
  """
  if mode not in MODES:
    raise ValueError(f"bench mode '{mode}' is not one of {', '.join(MODES)}")
  shape = ModelShape(**sizes)
  if mode == "decode" and shape.kind != "decoder":
    raise ValueError(f"--mode=decode needs the decoder LM; model kind '{shape.kind}' does not "
                     f"decode")
  variants = resolve_variants(variants)
  impls = _names(impls, IMPLS, "unknown attention implementation")
  dtypes = _names(dtypes, tuple(DTYPES), "unknown compute dtype")
  causal_blocks = _blocks(causal_blocks)
  if "cudnn" in impls:
    platform = platform or jax.default_backend()
    if platform != "gpu":
      raise ValueError(f"attention implementation cudnn needs a GPU; this device is {platform}")
    if "bfloat16" not in dtypes:
      raise ValueError("attention implementation cudnn runs in bfloat16 only: add bfloat16 to "
                       "the dtypes")
  if isinstance(seq_lens, str):
    seq_lens = [n for n in seq_lens.split(",") if n.strip()]
  seq_lens = tuple(int(n) for n in seq_lens)
  if not seq_lens or min(seq_lens) < 1:
    raise ValueError(f"sequence lengths must be positive, got {seq_lens}")
  if repeats < 1 or warmup < 0:
    raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
  if batch_size is not None and batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  for block in causal_blocks:  # checked even where no case uses it
    check_block(block)
  cases = bench_cases(variants, impls, dtypes, causal_blocks, shape.kind, mode)
  for v, impl, dtype, block in cases:
    for n in seq_lens:
      # The model's own checks (divisibility, decoder-only or encoder-only variants), then that
      # a FLOP formula exists.
      model_config(v, shape, n, impl=impl, dtype=dtype,
                   causal_block=AUTO if block is None else block)
      attention_flops(v, shape, n)
  return variants, seq_lens, shape, cases


def run_bench(variants="all", seq_lens=(256,), mode: str = "train", batch_size: int | None = None,
              *, kind: str = "decoder", d_model: int = 512, num_heads: int = 8,
              d_ff: int = 2048, num_layers: int = 6,
              vocab_size: int = 32000, factor_k: int = 8, dropout_rate: float = 0.0,
              repeats: int = 5, warmup: int = 2, json_path: str | None = None,
              peak_size: int | None = None, seed: int = 0, profile_dir: str | None = None,
              impls=("einsum",), dtypes=("float32",), causal_blocks=(AUTO,),
              log=print) -> dict:
  """Benchmarks attention variants in a model on the first local device; returns the report.

  Args:
    variants: 'all' (every base variant), or names / '+'-mixtures, as a list or comma string.
    seq_lens: lengths n to run; each case is built with max_len = n.
    mode: 'train' (the trainer's jitted step: forward, backward, Adam) or 'decode' (cached
      greedy decoding of n tokens in one jitted loop).
    batch_size: rows per step (train) or decoded in parallel (decode); None = default_batch.
    kind: the model, one of BENCH_KINDS: 'decoder' (a causal LM) or 'encoder_classifier' (a
      bidirectional encoder and a 2-class head; train mode only).
    d_model, num_heads, d_ff, num_layers, vocab_size: model sizes (default: the paper's base LM).
    factor_k: Factorized Random rank. dropout_rate: dropout in train mode (0: time only model
      math; 0.1 adds the RNG work of real training).
    repeats, warmup: timed and untimed interleaved repetitions per case.
    json_path: where to write the report as JSON (directories are created).
    peak_size: side of the matmuls measuring the peaks (default: 2048 on CPU, 8192 else).
    profile_dir: if set, trace PROFILE_STEPS untimed steps of every case with jax.profiler into
      profile_path(profile_dir, mode, variant, seq_len).
    impls: model.attention_impl values to run vanilla (and vanilla mixtures) with.
    dtypes: compute dtypes (parameters stay float32); MFU is against the measured matmul peak
      of each case's own dtype.
    causal_blocks: model.causal_block values, each run for every Random-family variant of a
      causal LM (blocks_apply); the other variants run once.
    log: called with each progress line and the final table (None: silent).
  """
  device = jax.local_devices()[0]
  variants, seq_lens, shape, specs = check_args(
      variants, seq_lens, mode, batch_size, repeats, warmup, impls=impls, dtypes=dtypes,
      causal_blocks=causal_blocks, platform=device.platform, kind=kind, d_model=d_model,
      num_heads=num_heads, d_ff=d_ff, num_layers=num_layers, vocab_size=vocab_size,
      factor_k=factor_k)
  log = log or (lambda *_: None)
  memory = PeakMemory(device)
  # One measured peak per compute dtype run, float32 always (report["peak"]).
  probes = {d: MatmulProbe(peak_size, device, d)
            for d in dict.fromkeys(("float32", *(dtype for _, _, dtype, _ in specs)))}
  for dtype, probe in probes.items():
    probe.measure(5)
    log(f"device: {device.device_kind} ({device.platform}); {dtype} matmul peak "
        f"{probe.peak()['flops_per_s'] / 1e9:.1f} GFLOP/s ({probe.size}^2, best of 5 so far)")
  mesh = _single_device_mesh(device) if mode == "train" else None

  def finish(results, complete: bool) -> dict:
    """The report so far; written to json_path after every length, so a run stopped midway
    keeps what it measured (`complete` says whether every length is in)."""
    peaks = {dtype: probe.peak() for dtype, probe in probes.items()}
    if mode == "train":
      for r in results:
        r["mfu"] = r["achieved_flops_per_s"] / peaks[r["dtype"]]["flops_per_s"]
    report = {
        "mode": mode, "complete": complete, "device": device.device_kind,
        "platform": device.platform, "host": host_platform.node(), "cpu_count": os.cpu_count(),
        "jax_version": jax.__version__, "model": {
            "kind": kind, "d_model": d_model, "num_heads": num_heads, "d_ff": d_ff,
            "num_layers": num_layers, "vocab_size": vocab_size, "factor_k": factor_k,
            "dropout_rate": dropout_rate if mode == "train" else 0.0, "max_len": "= seq_len",
            "causal_blocks": list(_blocks(causal_blocks)), "params_dtype": "float32"},
        "attention_impls": list(dict.fromkeys(impl for _, impl, _, _ in specs)),
        "dtypes": list(dict.fromkeys(dtype for _, _, dtype, _ in specs)),
        "repeats": repeats, "warmup": warmup, "interleaved": True, "statistic": "median",
        "peak": peaks["float32"], "peaks": peaks,
        "process_peak_memory": {"source": memory.source, "bytes": memory.peak_bytes()},
        "memory_bytes_source": "xla_memory_analysis",
        "profile": ({"dir": profile_dir, "steps_per_case": PROFILE_STEPS} if profile_dir
                    else None),
        "results": results,
    }
    if json_path:
      os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
      with open(json_path, "w") as f:
        json.dump(report, f, indent=2, default=float)
    return report

  results = []
  for n in seq_lens:
    batch = batch_size or default_batch(mode, n, device.platform)
    cases = []
    for v, impl, dtype, block in specs:
      options = dict(seed=seed, impl=impl, dtype=dtype, causal_block=block)
      if mode == "train":
        case = TrainCase(v, shape, n, batch, mesh, dropout_rate=dropout_rate, **options)
      else:
        case = DecodeCase(v, shape, n, batch, device=device, **options)
      block_tag = "" if block is None else f", causal_block {block}"
      log(f"  seq {n} {v} [{impl}, {dtype}{block_tag}]: compiled in {case.compile_s:.1f} s")
      cases.append(case)
    _time_interleaved(cases, repeats, warmup, list(probes.values()))
    records = cases_records(cases, mode)
    if profile_dir:
      for case in cases:
        profile(case.run, profile_path(profile_dir, mode, case, n), PROFILE_STEPS)
    results += records
    del cases
    partial = finish(results, complete=False)
    log(format_table({**partial, "results": records}))
  for probe in probes.values():
    probe.measure(5)
  report = finish(results, complete=True)
  for dtype, peak in report["peaks"].items():
    log(f"{dtype} matmul peak: {peak['flops_per_s'] / 1e9:.1f} GFLOP/s (best of {peak['runs']} "
        f"runs spread over the benchmark)")
  log(format_table(report))
  if json_path:
    log(f"wrote {json_path}")
  if profile_dir:
    log(profile_help(profile_dir))
  return report


def run_compile_bench(variants, seq_len: int, layers, batch_size: int | None = None, *,
                      kind: str = "decoder", d_model: int = 512, num_heads: int = 8,
                      d_ff: int = 2048, vocab_size: int = 32000, factor_k: int = 8,
                      impls=("einsum",), dtypes=("float32",), causal_blocks=(AUTO,),
                      json_path: str | None = None, seed: int = 0, log=print) -> dict:
  """Compile time of the train step at each layer count, unrolled and with model.scan_layers.

  The first variant, implementation, dtype and causal block are compiled (nothing is run): an
  unrolled stack compiles every layer anew, a scanned one compiles the layer once. Each record
  has compile_s; scan_vs_unrolled is the scanned compile time over the unrolled one at the same
  depth.
  """
  device = jax.local_devices()[0]
  log = log or (lambda *_: None)
  variant, impl, dtype, causal_block = bench_cases(
      resolve_variants(variants)[:1], _names(impls, IMPLS, "unknown attention implementation"),
      _names(dtypes, tuple(DTYPES), "unknown compute dtype"), _blocks(causal_blocks), kind)[0]
  mesh = _single_device_mesh(device)
  batch = batch_size or default_batch("train", seq_len, device.platform)
  results = []
  for num_layers in layers:
    shape = ModelShape(kind=kind, d_model=d_model, num_heads=num_heads, d_ff=d_ff,
                       num_layers=num_layers, vocab_size=vocab_size, factor_k=factor_k)
    by_scan = {}
    for scan in (False, True):
      case = TrainCase(variant, shape, seq_len, batch, mesh, seed=seed, impl=impl, dtype=dtype,
                       causal_block=causal_block, scan_layers=scan)
      by_scan[scan] = {"variant": variant, "attention_impl": impl, "dtype": dtype,
                       "causal_block": causal_block, "seq_len": seq_len, "batch_size": batch,
                       "num_layers": num_layers,
                       "scan_layers": scan, "params": case.params, "compile_s": case.compile_s}
      log(f"  {num_layers} layers, scan_layers={scan}: compiled in {case.compile_s:.1f} s")
      del case
    by_scan[True]["scan_vs_unrolled"] = by_scan[True]["compile_s"] / by_scan[False]["compile_s"]
    results += [by_scan[False], by_scan[True]]
  report = {"mode": "compile", "kind": kind, "device": device.device_kind,
            "platform": device.platform, "host": host_platform.node(), "cpu_count": os.cpu_count(),
            "jax_version": jax.__version__, "results": results}
  if json_path:
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w") as f:
      json.dump(report, f, indent=2, default=float)
  log("layers  scan  compile s  scan / unrolled")
  for r in results:
    log(f"{r['num_layers']:>6}  {str(r['scan_layers']):>5}  {r['compile_s']:>9.1f}  "
        f"{_ratio(r.get('scan_vs_unrolled'))}")
  return report
