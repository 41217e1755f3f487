"""What each model kind is trained on: batch dict -> (loss sum, weight sum).

Batches are dicts of arrays. Token id 0 is padding; `weights` say which targets count.
  decoder:            inputs, targets, weights, [segment_ids, positions]
  encoder_decoder:    inputs, targets_in, targets, weights, [inputs_/targets_ segment_ids,
                      positions]
  encoder_classifier: inputs, labels (int, or float for regression), weights, [segment_ids]
"""
from synth.train import losses


def model_outputs(model, batch, kind: str):
  """Runs `model` on `batch` the way its kind expects; returns logits (or class scores)."""
  if kind == "decoder":
    return model(batch["inputs"], positions=batch.get("positions"),
                 segment_ids=batch.get("segment_ids"))
  if kind == "encoder_decoder":
    return model(batch["inputs"], batch["targets_in"],
                 inputs_positions=batch.get("inputs_positions"),
                 inputs_segment_ids=batch.get("inputs_segment_ids"),
                 targets_positions=batch.get("targets_positions"),
                 targets_segment_ids=batch.get("targets_segment_ids"))
  if kind == "encoder_classifier":
    return model(batch["inputs"], positions=batch.get("positions"),
                 segment_ids=batch.get("segment_ids"))
  raise ValueError(f"unknown model kind '{kind}'")


def loss_sums(model, batch, kind: str, label_smoothing: float = 0.0):
  """(weighted loss sum, weight sum) of `model` on `batch`."""
  return output_loss_sums(model_outputs(model, batch, kind), batch, kind, label_smoothing)


def output_loss_sums(outputs, batch, kind: str, label_smoothing: float = 0.0):
  """(weighted loss sum, weight sum) of model `outputs` on `batch`: apart from loss_sums so the
  eval step can score the same outputs in other ways without running the model twice."""
  if kind == "encoder_classifier":
    if outputs.shape[-1] == 1:
      return losses.regression_loss(outputs, batch["labels"], batch.get("weights"))
    return losses.classification_loss(outputs, batch["labels"], batch.get("weights"),
                                      label_smoothing)
  return losses.cross_entropy(outputs, batch["targets"], batch.get("weights"), label_smoothing)
