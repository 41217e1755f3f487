"""PersonaChat (data.source='personachat') from ParlAI-format files the tests write: examples,
both persona variants, left truncation of long inputs, and one-line errors for bad files."""
import pytest

from synth.config import base_config
from synth.data import get_data
from synth.data.personachat import read_examples
from synth.data.seq2seq import SEQ2SEQ_KEYS

# Two dialogues in ParlAI's *_self_*.txt format: numbered lines restarting at 1 per dialogue,
# persona lines, then 'utterance<TAB>response<TAB><TAB>candidates' turns.
DIALOGUES = (
    "1 your persona: i like to ski.\n"
    "2 your persona: i have a dog.\n"
    "3 hi , how are you ?\tgreat , i just got back from skiing .\t\tno|great , i just got "
    "back from skiing .\n"
    "4 do you have pets ?\tyes , a dog named max .\t\tyes , a dog named max .|no\n"
    "1 your persona: i am a teacher.\n"
    "2 hello !\thi , i teach math .\t\thi , i teach math .|bye\n"
)


def write_split(directory, split="train", persona="original", text=DIALOGUES, copies=1):
  path = directory / f"{split}_self_{persona}.txt"
  path.write_text(text * copies)
  return path


def test_each_turn_is_persona_and_history_to_the_response(tmp_path):
  examples = read_examples(str(write_split(tmp_path)))
  assert examples == [
      {"inputs": "your persona: i like to ski.\nyour persona: i have a dog.\n"
                 "hi , how are you ?",
       "targets": "great , i just got back from skiing ."},
      {"inputs": "your persona: i like to ski.\nyour persona: i have a dog.\n"
                 "hi , how are you ?\ngreat , i just got back from skiing .\n"
                 "do you have pets ?",
       "targets": "yes , a dog named max ."},
      # A line numbered 1 starts a new dialogue: nothing of the first one carries over.
      {"inputs": "your persona: i am a teacher.\nhello !", "targets": "hi , i teach math ."},
  ]


def _config(tmp_path, **data):
  c = base_config()
  c.model.kind, c.model.vocab_size = "encoder_decoder", 400
  c.data.update(source="personachat", data_dir=str(tmp_path), seq_len=16, batch_size=4,
                eval_batch_size=4, vocab_path=str(tmp_path / "spm.model"))
  c.data.update(data)
  return c


@pytest.mark.parametrize("persona", ["original", "revised"])
def test_the_persona_setting_picks_the_files(tmp_path, persona):
  other = "revised" if persona == "original" else "original"
  for split in ("train", "valid"):
    write_split(tmp_path, split, persona, copies=8)
    write_split(tmp_path, split, other, text=DIALOGUES.replace("dog", "cat"), copies=8)
  data = get_data(_config(tmp_path, persona=persona), str(tmp_path), process_index=0,
                  process_count=1)
  assert "dog" in data.examples("validation")[0]["inputs"]
  assert len(data.examples("validation")) == 3 * 8
  batch = next(data.train)
  assert set(batch) == set(SEQ2SEQ_KEYS) and batch["inputs"].shape == (4, 16)


def test_long_inputs_keep_their_latest_turns(tmp_path):
  """Inputs are cut from the left to max_input_len - 1 tokens (and eos): the utterance the
  response answers survives, the persona at the start goes."""
  for split in ("train", "valid"):
    write_split(tmp_path, split, copies=8)
  data = get_data(_config(tmp_path, max_input_len=8), str(tmp_path), process_index=0,
                  process_count=1)
  tok = data.tokenizer
  second = data.tokens("validation")[1]
  full = tok.encode(data.examples("validation")[1]["inputs"])
  assert len(full) > 7 and list(second["inputs"]) == full[-7:]
  kept = tok.decode(list(second["inputs"]))
  assert kept.endswith("pets ?") and "persona" not in kept
  # Training rows hold the same cut inputs, then eos.
  batch = next(data.train)
  rows = [list(r[r != 0]) for r in batch["inputs"]]
  assert all(len(r) <= 8 and r[-1] == 1 for r in rows)
  cut = [list(t["inputs"]) + [1] for t in data.tokens("validation")]
  assert all(r in cut for r in rows)


def test_missing_and_malformed_files_are_one_line_errors(tmp_path):
  config = _config(tmp_path)
  with pytest.raises(ValueError) as e:
    get_data(config, str(tmp_path), process_index=0, process_count=1)
  message = str(e.value)
  assert "\n" not in message and "train_self_original.txt" in message
  assert "your persona" in message  # says what the file should hold
  write_split(tmp_path, "train")
  write_split(tmp_path, "valid", text="hello there\n")
  with pytest.raises(ValueError, match=r"valid_self_original.txt:1: a line must start with its "
                                       r"number"):
    get_data(config, str(tmp_path), process_index=0, process_count=1)
  write_split(tmp_path, "valid", text="1 your persona: i ski.\n2 just one field\n")
  with pytest.raises(ValueError, match=r"valid_self_original.txt:2: a turn needs"):
    get_data(config, str(tmp_path), process_index=0, process_count=1)
  with pytest.raises(ValueError, match="data.persona must be one of original, revised"):
    get_data(_config(tmp_path, persona="both"), str(tmp_path), process_index=0, process_count=1)
  with pytest.raises(ValueError, match="needs data.data_dir"):
    get_data(_config(tmp_path, data_dir=""), str(tmp_path), process_index=0, process_count=1)


def test_only_an_encoder_decoder_trains_on_it(tmp_path):
  config = _config(tmp_path)
  config.model.kind = "decoder"
  with pytest.raises(ValueError, match="model.kind must be 'encoder_decoder'"):
    get_data(config, str(tmp_path), process_index=0, process_count=1)
