"""PersonaChat (Zhang et al. 2018) next-response generation from ParlAI's text files:
data.source = 'personachat'.

The paper's dialogue task: given the speaker's persona and the dialogue so far, generate the
speaker's next response. The files are the public ParlAI release, read from data.data_dir:

  train_self_original.txt, valid_self_original.txt    data.persona = 'original'
  train_self_revised.txt,  valid_self_revised.txt     data.persona = 'revised' (rephrased
                                                      personas, harder to copy from)

Splits train and validation, as the paper used them (the test set was held back by the
ConvAI2 organisers). Each line starts with its number, which restarts at 1 for a new dialogue:

  1 your persona: i like to ski.
  2 your persona: i have a dog.
  3 hi , how are you ?\\tgreat , i just got back from skiing .\\t\\tcand 1|cand 2|...

A persona line gives one persona sentence; any other line is one exchange: the partner's
utterance, a tab, the speaker's response, and after two tabs the retrieval candidates (ignored:
this is generation, not ranking). Every exchange is one example:

  inputs   the persona sentences, then every earlier utterance and response of the dialogue,
           then this utterance, one per line
  targets  this response

Inputs are long (a persona alone is ~40 tokens), so this task cuts over-long inputs from the
left (DataTask.truncate_inputs_left): the most recent turns, which the response answers, are kept.
A missing file, or a line that is neither, is a one-line error naming the file (and line).
"""
import re

import ml_collections
from etils import epath

from synth.data.registry import DataTask, register_task

PERSONAS = ("original", "revised")
SPLIT_FILES = {"train": "train", "validation": "valid"}
# ParlAI's persona prefixes: 'self' files hold the speaker's own, 'both' files the partner's too.
_PERSONA_PREFIXES = ("your persona:", "partner's persona:")
_NUMBERED = re.compile(r"(\d+) (.*)")
FORMAT = ("ParlAI PersonaChat text: numbered lines, '1 your persona: ...' persona lines, then "
          "'N utterance<TAB>response<TAB><TAB>candidates' turns, the number restarting at 1 per "
          "dialogue")


def file_path(split: str, config: ml_collections.ConfigDict) -> str:
  """The ParlAI file of `split` under data.data_dir for data.persona."""
  persona = config.data.persona
  if persona not in PERSONAS:
    raise ValueError(f"data.persona must be one of {', '.join(PERSONAS)}, got '{persona}'")
  if split not in SPLIT_FILES:
    raise ValueError(f"data.source='personachat' has the splits {', '.join(SPLIT_FILES)}, not "
                     f"'{split}'")
  if not config.data.data_dir:
    raise ValueError("data.source='personachat' needs data.data_dir: the directory holding "
                     f"ParlAI's {SPLIT_FILES[split]}_self_{persona}.txt")
  # epath: a gs:// data_dir (the TPU sweeps') reads like a local one.
  return str(epath.Path(config.data.data_dir).expanduser() /
             f"{SPLIT_FILES[split]}_self_{persona}.txt")


def _dialogues(path: str):
  """(persona sentences, [(line number, utterance, response), ...]) of every dialogue."""
  persona, turns = [], []
  with epath.Path(path).open("r", encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
      line = line.rstrip("\r\n")
      if not line.strip():
        continue
      match = _NUMBERED.fullmatch(line)
      if match is None:
        raise ValueError(f"{path}:{number}: a line must start with its number and a space; "
                         f"expected {FORMAT}")
      if match.group(1) == "1" and (persona or turns):
        yield persona, turns
        persona, turns = [], []
      text = match.group(2)
      if text.startswith(_PERSONA_PREFIXES):
        persona.append(text)
        continue
      fields = text.split("\t")
      if len(fields) < 2 or not fields[1].strip():
        raise ValueError(f"{path}:{number}: a turn needs 'utterance<TAB>response', got "
                         f"{len(fields)} tab-separated field(s); expected {FORMAT}")
      turns.append((number, fields[0], fields[1]))
  if persona or turns:
    yield persona, turns


def read_examples(path: str) -> list[dict]:
  """Every exchange of a ParlAI PersonaChat file as {'inputs', 'targets'}, in file order."""
  examples = []
  for persona, turns in _dialogues(path):
    history = list(persona)
    for _, utterance, response in turns:
      history.append(utterance)
      examples.append({"inputs": "\n".join(history), "targets": response})
      history.append(response)
  return examples


def _source(split: str, config: ml_collections.ConfigDict) -> list[dict]:
  path = file_path(split, config)
  if not epath.Path(path).is_file():
    raise ValueError(f"no PersonaChat file {path}: data.data_dir must hold ParlAI's "
                     f"{epath.Path(path).name} ({FORMAT})")
  examples = read_examples(path)
  if not examples:
    raise ValueError(f"{path} holds no dialogue turns; expected {FORMAT}")
  return examples


register_task(DataTask(name="personachat", kind="seq2seq", source=_source,
                       truncate_inputs_left=True,
                       description="PersonaChat next-response generation (ParlAI text files)"))
