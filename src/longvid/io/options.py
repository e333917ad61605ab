"""Typed options of the io stage: each string option is a ``Literal`` type, checked in one place.

Design decision: the allowed values of a choice are read from its ``Literal`` type by
:func:`check_choice`, so the type a checker sees and the values accepted at run time never
disagree, and every error names the allowed values.
"""

from __future__ import annotations

from typing import Literal, get_args

from longvid.errors import InvalidSamplingError

# exact: the frame on screen at each target; nonref / keyframes: faster, a nearby frame
DecodeMode = Literal["exact", "nonref", "keyframes"]
# a video shorter than one sample interval: return its first frame, or raise VideoTooShortError
OnShort = Literal["first", "error"]
# a file that ends early: keep what was read and log a warning, or raise CorruptVideoError
OnTruncated = Literal["warn", "error"]
# how frames are made square: pad (LongVU), crop (LongVA/CLIP), stretch, none (decoded size)
ResizeMode = Literal["pad", "crop", "stretch", "none"]


def allowed_values(choice: object) -> tuple[str, ...]:
    """The values of a ``Literal`` option type, in declaration order."""
    return get_args(choice)


def check_choice(name: str, value: object, choice: object) -> None:
    """Raise ``InvalidSamplingError`` naming the allowed values unless ``value`` is one of ``choice``'s."""
    allowed = allowed_values(choice)
    if value not in allowed:
        quoted = [repr(v) for v in allowed]
        listing = ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0]
        raise InvalidSamplingError(f"{name}={value!r} is unknown: use {listing}")
