"""``KEY=VALUE`` engine options: one parser for ``--engine-option`` and lmms-eval's ``--model_args``.

Design decisions:
- Values are typed once, here: ``true``/``false`` (any case) are booleans, ``none``/``null``
  are None, then an integer, then a float, else the text as given. The engine's own config
  (a frozen dataclass) then checks names and ranges and says what is wrong.
- A malformed entry (no ``=``, an empty key) or the same key given twice with different values
  is an ``EngineOptionError`` naming the entry: two values for one option are contradictory and
  never resolved by picking one.
- Standard library only: command modules import it at parse time.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from longvid.errors import LongvidError

OptionValue = bool | int | float | str | None


class EngineOptionError(LongvidError, ValueError):
    """An engine option that is not ``KEY=VALUE``, or one key given contradictory values."""


def parse_value(text: str) -> OptionValue:
    """``"16"`` -> 16, ``"0.5"`` -> 0.5, ``"true"`` -> True, ``"none"`` -> None, else the text."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_option(entry: str) -> tuple[str, OptionValue]:
    """``"max_new_tokens=16"`` -> ``("max_new_tokens", 16)``."""
    key, sep, value = entry.partition("=")
    key = key.strip()
    if not sep or not key:
        raise EngineOptionError(f"engine option {entry!r} is not KEY=VALUE (e.g. max_new_tokens=16)")
    return key, parse_value(value.strip())


def parse_options(entries: Iterable[str]) -> dict[str, OptionValue]:
    """Every ``KEY=VALUE`` entry as one dict; blank entries are skipped, a repeated key must agree."""
    out: dict[str, OptionValue] = {}
    for entry in entries:
        if not entry.strip():
            continue
        key, value = parse_option(entry)
        if key in out and out[key] != value:
            raise EngineOptionError(f"engine option {key!r} is given twice, as {out[key]!r} and {value!r}: give it once")
        out[key] = value
    return out


def parse_option_string(text: str | None) -> dict[str, OptionValue]:
    """lmms-eval's comma-separated form: ``"engine=offline,max_new_tokens=16"``."""
    return parse_options((text or "").split(","))


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """``--engine NAME`` and repeatable ``--engine-option KEY=VALUE`` (parse with :func:`parse_options`)."""
    parser.add_argument("--engine", default="offline", help="engine name (default: offline)")
    parser.add_argument(
        "--engine-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="option passed to the engine (repeatable; true/false, none, numbers and text are typed)",
    )
