"""`synth inspect`: what a trained model attends to, as the paper's figures show it.

For a checkpoint and some texts it draws, per attention stack and kind (encoder self, decoder
self, cross), a grid of heatmaps with one row per layer and one column per head:
  - the attention weights of one example (the first text), exactly the weights the layers
    return (TransformerLayer.record_attention sows them during an ordinary forward pass, collected
    with nnx.capture);
  - for Dense-family variants also the weights averaged over all the texts;
  - for Random, Fixed Random and Factorized Random the input-independent matrix softmax(R)
    itself (with the stack's causal mask), which is what every example gets;
  - for mixtures the learned weights alpha per layer and head, and their trajectory over every
    checkpoint of the run.
Each picture is a PNG under --out and an image in TensorBoard (<workdir>/inspect).
"""
import functools
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from synth.api import padded  # noqa: E402
from synth.attention.registry import parse_variant  # noqa: E402
from synth.kinds import model_kind  # noqa: E402
from synth.models.transformer import TransformerLayer, TransformerStack  # noqa: E402
from synth.token_ids import EOS_ID  # noqa: E402

ATTENTION_KINDS = ("self", "cross")
_INPUT_INDEPENDENT = {"random", "fixed_random", "factorized_random"}
_DENSE = {"dense", "factorized_dense"}


def attention_maps(run, texts: list[str], *, truncate: bool = False
                   ) -> tuple[dict[str, np.ndarray], list[int]]:
  """{'decoder/self': (layers, batch, heads, q, k), ...} for `texts` and each text's length.

  A text longer than model.max_len tokens is an error, or with `truncate` (eval examples, which
  can be whole documents) cut to its first max_len tokens. An encoder-decoder's decoder runs on
  the model's own greedy output for each text."""
  if not texts:
    raise ValueError("inspect needs at least one text")
  cap = run.model_config.max_len
  ids = [run.tokenizer.encode(t) or [EOS_ID] for t in texts]
  targets = None
  if model_kind(run.model_config.kind).cross_attention:
    # An encoder's input ends with EOS, as in training.
    ids = [(t[:cap - 1] if truncate else t) + [EOS_ID] for t in ids]
    targets = [[0] + run.tokenizer.encode(o)[:cap - 1]
               for o in run.generate(texts, method="greedy")]
  elif truncate:
    ids = [t[:cap] for t in ids]
  return token_maps(run, ids, targets), [len(t) for t in ids]


def token_maps(run, ids: list[list[int]], targets=None) -> dict[str, np.ndarray]:
  """attention_maps for token ids (and an encoder-decoder's decoder inputs `targets`)."""
  cap = run.model_config.max_len
  longest = max(len(t) for t in ids)
  if longest > cap:
    raise ValueError(f"a text is {longest} tokens; the model attends over at most "
                     f"model.max_len={cap}: shorten it")
  model = run.model
  maps = {}
  for path, layer in nnx.iter_modules(model):
    if isinstance(layer, TransformerLayer):  # path: (stack, 'layers', index)
      stack, index = str(path[0]), int(path[2])
      layer.record_attention = functools.partial(_store, maps, stack, index)
  for _, stack in nnx.iter_modules(model):
    if isinstance(stack, TransformerStack):
      stack.remat = False  # nothing is trained here
  tokens, segments, positions = padded(ids)
  if targets is None:
    model(tokens, positions=positions, segment_ids=segments)
  else:
    t_tokens, t_segments, t_positions = padded(targets)
    model(tokens, t_tokens, inputs_positions=positions, inputs_segment_ids=segments,
          targets_positions=t_positions, targets_segment_ids=t_segments)
  return {k: np.stack([v[i] for i in sorted(v)]) for k, v in maps.items()}


def _store(maps: dict, stack: str, index: int, kind: str, weights) -> None:
  maps.setdefault(f"{stack}/{kind}", {})[index] = np.asarray(weights)


def _modules(model, cls):
  return [m for _, m in nnx.iter_modules(model) if isinstance(m, cls)]


def mixture_alphas(run) -> np.ndarray | None:
  """(layers, components, heads) of the self-attention mixture weights, or None if no mixture."""
  layers = [m for m in _modules(run.model, TransformerLayer)
            if getattr(m.self_attention, "mixture", None) is not None]
  if not layers:
    return None
  return np.stack([np.asarray(m.self_attention.mixture()) for m in layers])


def _grid(weights: np.ndarray, title: str, path: str, layer_ix=None,
          head_ix=None) -> np.ndarray:
  """One heatmap per (layer, head) of weights (layers, heads, q, k), labelled with the layers'
  and heads' own indices; returns the PNG as RGB."""
  layers, heads = weights.shape[:2]
  fig, axes = plt.subplots(layers, heads, figsize=(2.2 * heads, 2.2 * layers), squeeze=False)
  for i in range(layers):
    for h in range(heads):
      ax = axes[i][h]
      ax.imshow(weights[i, h], cmap="viridis", vmin=0.0, interpolation="nearest")
      ax.set_xticks([]), ax.set_yticks([])
      if i == 0:
        ax.set_title(f"head {head_ix[h] if head_ix else h}", fontsize=8)
      if h == 0:
        ax.set_ylabel(f"layer {layer_ix[i] if layer_ix else i}", fontsize=8)
  fig.suptitle(title, fontsize=9)
  return _save(fig, path)


def _save(fig, path: str) -> np.ndarray:
  fig.tight_layout()
  fig.canvas.draw()
  image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return image


def select(maps: dict[str, np.ndarray], attention: str = "all", layers=None, heads=None):
  """The maps of the chosen stacks ('all' or comma-separated names such as 'decoder/self'),
  layers and heads (None = all); an unknown name or index is a one-line ValueError."""
  names = sorted(maps) if attention == "all" else [a.strip() for a in attention.split(",")]
  unknown = [n for n in names if n not in maps]
  if unknown:
    raise ValueError(f"--attention {','.join(unknown)}: this model has {', '.join(sorted(maps))}"
                     f" (or all)")
  some = maps[names[0]]
  for what, chosen, count in (("layer", layers, some.shape[0]), ("head", heads, some.shape[2])):
    bad = [i for i in (chosen or []) if not 0 <= i < count]
    if bad:
      raise ValueError(f"{what} {bad[0]} does not exist: the model has {count} {what}s "
                       f"(0-{count - 1})")
  layer_ix = list(layers) if layers else list(range(some.shape[0]))
  head_ix = list(heads) if heads else list(range(some.shape[2]))
  return {n: maps[n][layer_ix][:, :, head_ix] for n in names}, layer_ix, head_ix


def eval_texts(run, count: int, split: str = "validation") -> list[str]:
  """The text of the first `count` examples of the run's eval split (the input side of pairs)."""
  from synth.data.tasks import get_data
  if count <= 0:
    raise ValueError(f"--examples must be positive, got {count}")
  examples = get_data(run.config, run.workdir).examples(split)[:count]
  return [e["inputs"] if "inputs" in e else e["text"] for e in examples]


def inspect_run(run, texts: list[str], out: str, *, steps_for_alphas=None,
                attention: str = "all", layers=None, heads=None,
                truncate: bool = False) -> dict:
  """Writes every picture for `run` on `texts` under `out` (PNG) and <workdir>/inspect
  (TensorBoard); returns {name: the array that picture shows} (what the tests compare).
  `attention`, `layers` and `heads` choose what is drawn (see select)."""
  from synth.summary_writer import SummaryWriter
  variant = run.model_config.variant
  components = set(parse_variant(variant))
  maps, lengths = attention_maps(run, texts, truncate=truncate)
  maps, layer_ix, head_ix = select(maps, attention, layers, heads)
  os.makedirs(out, exist_ok=True)
  shown, images = {}, {}
  n0 = lengths[0]
  for name, weights in maps.items():
    one = weights[:, 0, :, :n0, :n0] if name.endswith("self") else weights[:, 0, :, :, :n0]
    key = f"{name.replace('/', '_')}_example0"
    shown[key] = one
    images[key] = _grid(one, f"{variant}: {name} attention, example 0 (step {run.step})",
                        os.path.join(out, f"{key}.png"), layer_ix, head_ix)
    if components & _DENSE and name.endswith("self") and len(texts) > 1:
      n = min(lengths)
      mean = weights[:, :, :, :n, :n].mean(axis=1)
      key = f"{name.replace('/', '_')}_mean"
      shown[key] = mean
      images[key] = _grid(mean, f"{variant}: {name} attention, mean over {len(texts)} texts "
                          f"(first {n} positions)", os.path.join(out, f"{key}.png"), layer_ix,
                          head_ix)
  if len(components) == 1 and components <= _INPUT_INDEPENDENT:
    # Any tokens will do: these weights depend on positions only. Full length, no padding.
    n = run.model_config.max_len
    cross = model_kind(run.model_config.kind).cross_attention
    fixed = token_maps(run, [[3] * n], [[0] * n] if cross else None)
    fixed = {k: v[layer_ix][:, :, head_ix] for k, v in fixed.items() if k in maps}
    for name, weights in fixed.items():
      if name.endswith("self"):
        key = f"{name.replace('/', '_')}_softmax_R"
        m = weights[:, 0, :, :, :]
        shown[key] = m
        images[key] = _grid(m, f"{variant}: softmax(R) of {name} attention (input-independent)",
                            os.path.join(out, f"{key}.png"), layer_ix, head_ix)
  alphas = mixture_alphas(run)
  if alphas is not None:
    alphas = alphas[layer_ix][:, :, head_ix]
    shown["mixture_alpha"] = alphas
    images["mixture_alpha"] = _alpha_picture(alphas, parse_variant(variant),
                                             os.path.join(out, "mixture_alpha.png"))
    if steps_for_alphas:
      trajectory = np.stack([mixture_alphas(r)[layer_ix][:, :, head_ix]
                             for r in steps_for_alphas()])
      shown["mixture_alpha_trajectory"] = trajectory
      images["mixture_alpha_trajectory"] = _trajectory_picture(
          trajectory, parse_variant(variant), os.path.join(out, "mixture_alpha_trajectory.png"))
  writer = SummaryWriter(os.path.join(run.workdir, "inspect"))
  writer.write_images(run.step, {f"inspect/{k}": v for k, v in images.items()})
  writer.close()
  return shown


def _alpha_picture(alphas: np.ndarray, names, path: str) -> np.ndarray:
  layers, components, heads = alphas.shape
  fig, axes = plt.subplots(1, components, figsize=(2 + 1.2 * heads * components, 2 + 0.4 *
                                                   layers), squeeze=False)
  for c in range(components):
    ax = axes[0][c]
    im = ax.imshow(alphas[:, c, :], vmin=0.0, vmax=max(1.0, float(alphas.max())),
                   cmap="magma", aspect="auto")
    ax.set_title(f"alpha of {names[c]}", fontsize=9)
    ax.set_xlabel("head"), ax.set_ylabel("layer")
    for i in range(layers):
      for h in range(heads):
        ax.text(h, i, f"{alphas[i, c, h]:.2f}", ha="center", va="center", fontsize=7,
                color="white")
    fig.colorbar(im, ax=ax)
  return _save(fig, path)


def _trajectory_picture(trajectory: np.ndarray, names, path: str) -> np.ndarray:
  """trajectory (checkpoints, layers, components, heads): alpha of the first component."""
  steps, layers, _, heads = trajectory.shape
  fig, axes = plt.subplots(1, layers, figsize=(3 * layers, 2.6), squeeze=False)
  for i in range(layers):
    ax = axes[0][i]
    for h in range(heads):
      ax.plot(range(steps), trajectory[:, i, 0, h], marker="o", label=f"head {h}")
    ax.set_title(f"layer {i}: alpha of {names[0]}", fontsize=9)
    ax.set_xlabel("checkpoint")
  axes[0][0].legend(fontsize=7)
  return _save(fig, path)
