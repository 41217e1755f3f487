"""PersonaChat dialogue generation (persona + dialogue history -> the next response), the paper's
second text generation task, scored with BLEU-1, ROUGE-L, METEOR and CIDEr.

  synth train --config=configs/personachat.py:variant=dense --workdir=workdirs/personachat_d \
      --config.data.data_dir=DIR

DIR holds ParlAI's PersonaChat files, train_self_original.txt and valid_self_original.txt (or
the _revised ones with persona=revised); see synth/data/personachat.py for their format. METEOR
and CIDEr need `pip install 'synth[dialogue]'`. Every field below overrides synth/config.py,
where each field is documented.
"""
from synth.config import ConfigError, base_config, parse_config_args
from synth.data.personachat import PERSONAS
from synth.models import PRESETS


def get_config(arg: str | None = None):
  # variant: the self-attention variant (synth.attention.VARIANTS or a '+'-joined mixture);
  # persona: ParlAI's 'original' or 'revised' personas; data_dir: where the files are.
  args = parse_config_args(arg, variant="vanilla", persona="original", data_dir="")
  if args["persona"] not in PERSONAS:
    raise ConfigError(f"persona must be one of {', '.join(PERSONAS)}, got '{args['persona']}'")
  c = base_config()
  # Transformer-base (6+6 layers, d 512, 8 heads, FFN 2048), as for CNN/DailyMail.
  c.model.update(PRESETS["transformer_base_mt"]())
  # The self-attention variant under comparison.
  c.model.variant = args["variant"]
  # Positions the synthetic attention parameters are sized for: the longest row, the input.
  c.model.max_len = 256

  # ParlAI's PersonaChat files in data_dir, with the chosen personas.
  c.data.source = "personachat"
  c.data.data_dir = args["data_dir"]
  c.data.persona = args["persona"]
  # Inputs (persona + history) of 256 tokens, cut from the left so the latest turns stay;
  # responses (about 12 words) of at most 64.
  c.data.seq_len = 256
  c.data.max_input_len = 256
  c.data.max_target_len = 64
  # One exchange per row: an input fills most of its row, so packing would gain little.
  c.data.pack = False
  # 64 exchanges per step, in training and evaluation.
  c.data.batch_size = 64
  c.data.eval_batch_size = 64
  # Threads that read and tokenize examples.
  c.data.read_threads = 8

  # Adam with the rsqrt schedule: peak (512 * 4000)^-0.5 after 4000 steps.
  c.optimizer.name = "adam"
  c.optimizer.schedule = "rsqrt"
  c.optimizer.learning_rate = 7e-4
  c.optimizer.warmup_steps = 4000
  # Label smoothing 0.1, as for the other generation tasks.
  c.optimizer.label_smoothing = 0.1

  # 20k steps of 64 exchanges.
  c.train.num_steps = 20_000
  # Log every 100 steps.
  c.train.log_every = 100
  # Evaluate and checkpoint every 2k steps.
  c.train.eval_every = 2000
  c.train.checkpoint_every = 2000

  # Beam 4, length penalty 0.6: the decoding of the repository's other generation task
  # (configs/cnn_dailymail.py); the paper's own PersonaChat settings were not recovered.
  c.eval.method = "beam"
  c.eval.beam_size = 4
  c.eval.alpha = 0.6
  # Responses of at most 64 tokens.
  c.eval.max_decode_len = 64
  # Repeated n-grams allowed (0): plain beam search; 3 is the usual setting against the loops
  # dialogue models fall into.
  c.eval.no_repeat_ngram_size = 0
  # BLEU-1, ROUGE-L, METEOR and CIDEr (synth.eval.metrics.dialogue).
  c.eval.metrics = "dialogue"
  return c
