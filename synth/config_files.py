"""Config files and overrides: the one loader behind `synth train|eval|decode --config`, `synth
sweep` and the tests.

A config is named by a spec, 'path/to/file.py[:key=value,...]': the file's get_config(arg) builds
it from synth.config.base_config(), reading its own arguments with synth.config.parse_config_args.
configs/<name>.py also finds the files shipped inside the package (synth.shipped_files).

An override sets one field by its dotted name. On the command line it is the flag
`--config.train.num_steps=100` and its value is text, read by the type of the field's current
value (int, float, bool, str, or a tuple/list written as a Python literal); in Python it is
{'train.num_steps': 100}, whose values are checked against the same types. A name the config
does not have, or a value of the wrong type, is a one-line ConfigError before any work starts.
"""
import ast
import os
import runpy
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections

from synth import shipped_files
from synth.config import ConfigError, parse_bool

# The command-line prefix of an override: --config.section.field=value.
FLAG_PREFIX = "--config."


def load(spec: str, overrides: Mapping[str, Any] | None = None) -> ml_collections.ConfigDict:
  """The config a spec names, with `overrides` applied; every failure is a ConfigError."""
  path, _, arg = spec.partition(":")
  resolved = shipped_files.resolve(path)
  if not os.path.isfile(resolved):
    raise ConfigError(shipped_files.missing_message("config", path))
  try:
    get_config = runpy.run_path(resolved)["get_config"]
  except KeyError:
    raise ConfigError(f"config file '{resolved}' defines no get_config()") from None
  except SyntaxError as e:
    raise ConfigError(f"{resolved}:{e.lineno}: {e.msg}: fix the config file") from None
  try:
    config = get_config(arg) if arg else get_config()
  except ConfigError as e:
    raise ConfigError(f"{resolved}: {e}") from None
  return apply_overrides(config, overrides or {})


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """Sets each dotted field of `overrides` in `config` (in place; also returned). Text values
  are parsed by the field's type, as on the command line; others must already have it."""
  for name, value in overrides.items():
    *parents, field = name.split(".")
    node = config
    for part in parents:
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        raise ConfigError(_unknown(name))
      node = node[part]
    if not isinstance(node, ml_collections.ConfigDict) or field not in node:
      raise ConfigError(_unknown(name))
    current = node[field]
    if isinstance(current, ml_collections.ConfigDict):
      raise ConfigError(f"--config.{name} names a section of the config, not a field")
    if isinstance(value, str) and not isinstance(current, str):
      value = parse_value(name, value, current)
    node[field] = _checked(name, value, current)
  return config


def parse_value(name: str, text: str, current: Any) -> Any:
  """Command-line text -> a value of `current`'s type for field `name` (a field holding None
  takes the text as it is)."""
  if current is None:
    return text
  kind = type(current)
  if kind not in _PARSERS:
    raise ConfigError(f"--config.{name} cannot be set from the command line (a {kind.__name__} "
                      f"field)")
  try:
    return _PARSERS[kind](text)
  except (ValueError, SyntaxError):
    want = {bool: "true or false", int: "an integer", float: "a number",
            tuple: "a tuple, e.g. (3, 7)", list: "a list, e.g. [3, 7]"}[kind]
    raise ConfigError(f"--config.{name}={text} is not {want}") from None


def _sequence(kind):
  def parse(text: str):
    value = ast.literal_eval(text)
    return kind(value if isinstance(value, (tuple, list)) else (value,))
  return parse


# How command-line text becomes a value, by the type of the field's current value.
_PARSERS = {bool: parse_bool, int: int, float: float, tuple: _sequence(tuple), list: _sequence(list)}


def override_flags(overrides: Mapping[str, Any]) -> list[str]:
  """The command-line flags that apply `overrides` (what a sweep passes to `synth train`)."""
  return [f"{FLAG_PREFIX}{name}={_text(value)}" for name, value in overrides.items()]


def split_override_flags(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
  """({field: text} of the --config.a.b=value flags, the other arguments in order)."""
  overrides, rest = {}, []
  for arg in argv:
    if arg.startswith(FLAG_PREFIX):
      name, sep, text = arg[len(FLAG_PREFIX):].partition("=")
      if not sep or not name:
        raise ConfigError(f"{arg}: an override is --config.section.field=value")
      overrides[name] = text
    else:
      rest.append(arg)
  return overrides, rest


def _checked(name: str, value: Any, current: Any) -> Any:
  """`value` if it fits a field holding `current` (ints fit float fields), else ConfigError."""
  if current is None or value is None:
    return value
  if isinstance(current, bool) != isinstance(value, bool):
    raise ConfigError(f"--config.{name}={value!r} is not a bool like the field's {current!r}")
  if isinstance(current, float) and isinstance(value, int):
    return float(value)
  if isinstance(current, (tuple, list)) and isinstance(value, (tuple, list)):
    return type(current)(value)
  if not isinstance(value, type(current)):
    raise ConfigError(f"--config.{name}={value!r} is of type {type(value).__name__}, but the "
                      f"field holds a {type(current).__name__} ({current!r})")
  return value


def _text(value: Any) -> str:
  """A value as override text that parse_value reads back."""
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, (tuple, list)):
    return repr(tuple(value) if isinstance(value, tuple) else list(value))
  return str(value)


def _unknown(name: str) -> str:
  return (f"unknown config field '{name}' (from --config.{name}); see synth/config.py and "
          f"synth/model_fields.py for the fields")


__all__ = ["FLAG_PREFIX", "apply_overrides", "load", "override_flags", "parse_value",
           "split_override_flags"]
