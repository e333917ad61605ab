"""longvid: understand long videos. Ask questions, get answers that cite the moments they come from.

The top-level import is light: heavy parts (torch models, OCR, speech) load when first used.
"""

from __future__ import annotations

__version__ = "0.1.0"

from longvid.errors import LongvidError  # noqa: E402
from longvid.types import (  # noqa: E402
    Answer,
    AudioClip,
    Evidence,
    FrameBatch,
    FrameFeatures,
    Moment,
    TimedText,
    VideoInfo,
    VisualTokens,
)

__all__ = [
    "Answer",
    "AudioClip",
    "Evidence",
    "FrameBatch",
    "FrameFeatures",
    "LongvidError",
    "Moment",
    "TimedText",
    "VideoInfo",
    "VisualTokens",
    "__version__",
]
