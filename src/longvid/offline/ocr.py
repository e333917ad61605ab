"""On-screen text: OCR of the frames the visual stage keeps, de-duplicated over time.

Design decisions:
- The default reader is RapidOCR (PP-OCRv4 detector + recogniser, ONNX, packaged weights).
  Readers are registered in ``OCR_ENGINES``: ``read(frame_rgb) -> list[(text, confidence)]``.
- Only frames kept by temporal reduction are read, and a kept frame whose thumbnail is nearly
  identical to the last frame read is skipped (a static slide is read once), which bounds the
  cost on long static stretches.
- ``OcrTrack`` merges consecutive reads with the same text (normalised, fuzzy ratio >= 0.85) into
  one ``TimedText`` spanning all of them: de-duplication over time.
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass

import numpy as np

from longvid.registry import Registry
from longvid.errors import require
from longvid.types import TimedText

logger = logging.getLogger(__name__)

OCR_ENGINES: Registry = Registry("ocr", plural="ocr_engines")
register_ocr_engine = OCR_ENGINES.register
create_ocr_engine = OCR_ENGINES.create
list_ocr_engines = OCR_ENGINES.list

_SAME_TEXT_RATIO = 0.85  # fuzzy ratio above which two reads are the same text (OCR jitter)


@OCR_ENGINES.register("rapidocr")
class RapidOcrReader:
    def __init__(self, *, min_confidence: float, max_side: int, min_chars: int) -> None:
        """Options come from ``IndexSettings`` (``ocr_*`` fields), where their defaults live."""
        mod = require("rapidocr_onnxruntime", extra="offline", package="rapidocr-onnxruntime")
        # detect at the frame's own scale (the stock setting upscales the short side to 736 px, 3-4x
        # slower), and skip the 180-degree text classifier: video overlays are upright
        self._engine = mod.RapidOCR(det_limit_side_len=max_side, det_limit_type="max", use_cls=False)
        self.min_confidence = min_confidence
        self.max_side = max_side
        self.min_chars = min_chars

    def read(self, frame: np.ndarray) -> list[tuple[str, float]]:
        """Lines of text in an RGB uint8 frame, top to bottom, with their confidence."""
        import cv2

        h, w = frame.shape[:2]
        scale = self.max_side / max(h, w)
        img = frame if scale >= 1 else cv2.resize(frame, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
        result, _ = self._engine(np.ascontiguousarray(img[:, :, ::-1]))  # the engine expects BGR
        lines = []
        for box, text, conf in result or []:
            conf = float(conf)
            if conf >= self.min_confidence and alnum_count(text) >= self.min_chars:
                lines.append((min(p[1] for p in box), text.strip(), conf))
        lines.sort(key=lambda x: x[0])
        return [(t, c) for _, t, c in lines]


def alnum_count(text: str) -> int:
    """Letters and digits in a read: a stray glyph ("O", "|") has one or none."""
    return sum(ch.isalnum() for ch in text)


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


@dataclass(frozen=True)
class OcrRead:
    """One OCR read of a sampled frame."""

    time_s: float
    text: str | None  # the lines read, " | "-joined; None: same picture as the previous read, not read again


class OcrTrack:
    """Accumulates reads ``(time, text)`` into de-duplicated ``TimedText`` spans."""

    def __init__(self) -> None:
        self.items: list[TimedText] = []
        self._open: tuple[float, float, str, float] | None = None  # start, end, text, conf

    def add(self, time_s: float, text: str, confidence: float, span_s: float) -> None:
        """A read at ``time_s``; ``span_s`` is how long the frame stands for (until the next read)."""
        if self._open is not None:
            s, e, t, c = self._open
            if difflib.SequenceMatcher(None, normalise(t), normalise(text)).ratio() >= _SAME_TEXT_RATIO:
                self._open = (s, max(e, time_s + span_s), t, max(c, confidence))
                return
            self._close()
        if text:
            self._open = (time_s, time_s + span_s, text, confidence)

    def _close(self) -> None:
        if self._open is not None:
            s, e, t, c = self._open
            self.items.append(TimedText(s, e, t, "ocr", c))
            self._open = None

    def finish(self) -> list[TimedText]:
        self._close()
        return self.items
