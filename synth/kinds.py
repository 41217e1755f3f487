"""The three model kinds (config.model.kind) and everything that differs between them.

A decoder LM, an encoder-decoder and an encoder classifier read different batches, run their
model on different inputs, are trained on different losses and are scored on different
outputs. Each kind is one object here that owns those differences:

  the task kinds it trains on    task_kinds
  the row lengths it reads       row_lengths(config)
  featurising examples           featurize / featurize_batch (through the data layer's
                                 tokenising helpers) and the batch pipeline it feeds
  running the model              outputs(model, batch)
  loss and eval sums             loss_sums, eval_sums
  what its metrics score         evaluate(evaluator, ...): decoded text, predicted labels or
                                 LM samples
  what decoding does with it     decodes, continues_prompts, cross_attention

Everything else asks the run's kind, `model_kind(config.model.kind)`, rather than testing its
name, so adding a kind means one class here, one line in MODEL_KINDS and one model class (MODELS
in synth/models/transformer.py).

Batches (token id 0 is padding; `weights` say which targets count):
  decoder:            inputs, targets, weights, [segment_ids, positions]
  encoder_decoder:    inputs, targets_in, targets, weights, [inputs_/targets_ segment_ids,
                      positions]
  encoder_classifier: inputs, labels (int, or float for regression), weights, [segment_ids]
"""
import abc

from synth.data.classification import classification_eval_batches, classification_train_iterator
from synth.data.pipeline import lm_eval_batches, lm_train_iterator
from synth.data.seq2seq import seq2seq_eval_batches, seq2seq_train_iterator
from synth.train import losses


class ModelKind(abc.ABC):
  """What one model kind reads, outputs, is trained on and is scored on (see the module doc)."""
  # config.model.kind.
  name: str = ""
  # The task kinds (synth.data.TASK_KINDS) a model of this kind trains on.
  task_kinds: tuple[str, ...] = ()
  # Whether it generates text (synth.eval.decoding, `synth decode`).
  decodes: bool = False
  # Whether what it generates continues its input (a decoder LM's prompt), rather than being an
  # output of its own (an encoder-decoder's target).
  continues_prompts: bool = False
  # Whether it has decoder layers attending to an encoder's memory.
  cross_attention: bool = False
  # Whether its self-attention is causal somewhere (so a mixer that cannot be causal, Linformer,
  # cannot serve it).
  causal: bool = False

  # The task kind of local files (data.source 'files') read for this kind: files take their
  # kind from the model that trains on them.
  files_task_kind: str = ""

  def task_kind_of_files(self, config) -> str:
    return self.files_task_kind

  def check_task(self, task_name: str, task_kind: str, config, label_names) -> None:
    """A one-line ValueError if this kind cannot train on a task of `task_kind`."""
    if task_kind not in self.task_kinds:
      fits = [k.name for k in MODEL_KINDS.values() if task_kind in k.task_kinds]
      raise ValueError(f"data.source '{task_name}' is a {task_kind} task: model.kind must be "
                       f"{' or '.join(repr(k) for k in fits)}, got '{self.name}'")

  def row_lengths(self, config) -> dict[str, int]:
    """{config field: tokens} of each row this kind's batches hold."""
    return {"data.seq_len": int(config.data.seq_len)}

  @abc.abstractmethod
  def featurize(self, features, example: dict):
    """One raw example -> what this kind's batch pipeline reads (features: the data layer's
    tokenising helpers for the run, synth.data.tasks.Featurizer)."""

  @abc.abstractmethod
  def featurize_batch(self, features, examples) -> list:
    """Many examples at once (the tokenizer encodes a batch in parallel)."""

  @abc.abstractmethod
  def train_iterator(self, examples, config, task_kind: str, **common):
    """This process's endless, checkpointable iterator of training batches."""

  @abc.abstractmethod
  def eval_batches(self, tokens, config, task_kind: str, **common):
    """Batches of featurised eval examples: every example once, padding rows weighted 0."""

  def outputs(self, model, batch):
    """Runs `model` on `batch`: logits, or class scores."""
    return model(batch["inputs"], positions=batch.get("positions"),
                 segment_ids=batch.get("segment_ids"))

  def loss_sums(self, outputs, batch, label_smoothing: float = 0.0):
    """(weighted loss sum, weight sum) of `outputs` on `batch`."""
    return losses.cross_entropy(outputs, batch["targets"], batch.get("weights"), label_smoothing)

  def eval_sums(self, outputs, batch) -> dict:
    """What one eval batch adds up: 'loss_sum' and 'weight_sum' (sums, not means, so batches
    and devices add exactly and the evaluator divides once)."""
    loss_sum, weight_sum = self.loss_sums(outputs, batch)
    return {"loss_sum": loss_sum, "weight_sum": weight_sum}

  @abc.abstractmethod
  def evaluate(self, evaluator, state, rngs, split: str, metric_names) -> tuple[dict, list]:
    """(metrics beyond the loss, samples) of one state on one split (synth.eval.evaluate)."""


class DecoderKind(ModelKind):
  """A decoder-only LM: packed token rows, next-token cross-entropy, continuations as samples."""
  name = "decoder"
  task_kinds = ("lm",)
  files_task_kind = "lm"
  decodes = continues_prompts = causal = True

  def featurize(self, features, example):
    return features.lm(example)

  def featurize_batch(self, features, examples):
    return features.lm_batch(examples)

  def train_iterator(self, examples, config, task_kind, **common):
    return lm_train_iterator(examples, seq_len=config.data.seq_len, pack=config.data.pack,
                             **common)

  def eval_batches(self, tokens, config, task_kind, **common):
    return lm_eval_batches(tokens, seq_len=config.data.seq_len, pack=config.data.pack, **common)

  def eval_sums(self, outputs, batch):
    """Also 'correct_sum', the weight of the targets the argmax predicts (token accuracy). Only
    LMs count tokens: a classifier's and an encoder-decoder's accuracy is the task metric of
    their predicted or decoded outputs, which a teacher-forced count under the same name would
    contradict, and a regression head has no argmax."""
    sums = super().eval_sums(outputs, batch)
    sums["correct_sum"], _ = losses.correct_predictions(outputs, batch["targets"],
                                                        batch.get("weights"))
    return sums

  def evaluate(self, evaluator, state, rngs, split, metric_names):
    return {}, evaluator.lm_samples(state, rngs, split)


class EncoderDecoderKind(ModelKind):
  """An encoder-decoder: (input, target) pairs, teacher-forced cross-entropy, decoded outputs
  scored by the task's metrics. Classification and regression tasks train it T5-style, the
  label written as the target text."""
  name = "encoder_decoder"
  task_kinds = ("seq2seq", "classification", "regression")
  files_task_kind = "seq2seq"
  decodes = cross_attention = causal = True

  def row_lengths(self, config):
    """Each side its own length: data.max_input_len and data.max_target_len (0 = seq_len)."""
    d = config.data
    return {"data.max_input_len": int(d.max_input_len or d.seq_len),
            "data.max_target_len": int(d.max_target_len or d.seq_len)}

  def input_length(self, config) -> int:
    return self.row_lengths(config)["data.max_input_len"]

  def featurize(self, features, example):
    return features.pairs(example)

  def featurize_batch(self, features, examples):
    return features.pairs_batch(examples)

  def _lengths(self, config):
    input_len, target_len = self.row_lengths(config).values()
    return dict(input_len=input_len, target_len=target_len)

  def train_iterator(self, examples, config, task_kind, **common):
    return seq2seq_train_iterator(examples, pack=config.data.pack,
                                  drop_long=config.data.drop_long, **self._lengths(config),
                                  **common)

  def eval_batches(self, tokens, config, task_kind, **common):
    return seq2seq_eval_batches(tokens, pack=config.data.pack, **self._lengths(config), **common)

  def outputs(self, model, batch):
    return model(batch["inputs"], batch["targets_in"],
                 inputs_positions=batch.get("inputs_positions"),
                 inputs_segment_ids=batch.get("inputs_segment_ids"),
                 targets_positions=batch.get("targets_positions"),
                 targets_segment_ids=batch.get("targets_segment_ids"))

  def evaluate(self, evaluator, state, rngs, split, metric_names):
    from synth.eval import task_metrics  # the metric libraries load only when text is scored
    outputs, examples = evaluator.seq2seq_outputs(state, rngs, split)
    task_kind = evaluator.data.kind
    if task_kind == "seq2seq":
      sources = [ex["inputs"] for ex in examples]
      references = [ex["targets"] for ex in examples]
      predictions = outputs
    else:  # classification/regression learnt text-to-text: the label is the target text
      sources = [ex["text"] for ex in examples]
      references = [ex["label"] for ex in examples]
      predictions = (task_metrics.to_floats(outputs) if task_kind == "regression"
                     else task_metrics.label_ids(outputs, evaluator.data.label_names))
    metrics = task_metrics.score(metric_names, evaluator.config, predictions=predictions,
                                 references=references)
    samples = [{"source": s, "reference": str(r), "prediction": o}
               for s, r, o in zip(sources, references, outputs)]
    return metrics, samples[:evaluator.config.eval.num_samples]


class ClassifierKind(ModelKind):
  """An encoder with a classification (or, with one output, regression) head over its pooled
  states: labelled rows, cross-entropy or squared error, predicted labels scored."""
  name = "encoder_classifier"
  task_kinds = ("classification", "regression")

  def task_kind_of_files(self, config):
    return "regression" if int(config.model.num_classes) == 1 else "classification"

  def check_task(self, task_name, task_kind, config, label_names):
    """Also: the head has one output per label (one for regression)."""
    super().check_task(task_name, task_kind, config, label_names)
    want = 1 if task_kind == "regression" else len(label_names)
    if want and config.model.num_classes != want:
      raise ValueError(f"data.source '{task_name}' has {want} "
                       f"{'output (regression)' if task_kind == 'regression' else 'classes'}, "
                       f"but model.num_classes is {config.model.num_classes}")

  def featurize(self, features, example):
    return features.labelled(example)

  def featurize_batch(self, features, examples):
    return features.labelled_batch(examples)

  def train_iterator(self, examples, config, task_kind, **common):
    return classification_train_iterator(examples, seq_len=config.data.seq_len,
                                         regression=task_kind == "regression", **common)

  def eval_batches(self, tokens, config, task_kind, **common):
    return classification_eval_batches(tokens, seq_len=config.data.seq_len,
                                       regression=task_kind == "regression", **common)

  def loss_sums(self, outputs, batch, label_smoothing=0.0):
    if outputs.shape[-1] == 1:
      return losses.regression_loss(outputs, batch["labels"], batch.get("weights"))
    return losses.classification_loss(outputs, batch["labels"], batch.get("weights"),
                                      label_smoothing)

  def evaluate(self, evaluator, state, rngs, split, metric_names):
    from synth.eval import task_metrics
    predictions, labels = evaluator.classifier_outputs(state, rngs, split)
    return task_metrics.score(metric_names, evaluator.config, predictions=predictions,
                              references=labels), []


# config.model.kind -> its kind.
MODEL_KINDS: dict[str, ModelKind] = {k.name: k for k in (DecoderKind(), EncoderDecoderKind(),
                                                         ClassifierKind())}


def model_kind(name: str) -> ModelKind:
  """The kind called `name` (config.model.kind); a one-line error names the kinds."""
  if name not in MODEL_KINDS:
    raise ValueError(f"model.kind='{name}' is not one of {', '.join(MODEL_KINDS)}")
  return MODEL_KINDS[name]
