"""On-screen text: the OCR reader (detector and recogniser apart), word spaces, reads over time.

Design decisions:
- The default reader is RapidOCR (PP-OCRv4 detector + recogniser, ONNX, packaged weights).
  Readers are registered in ``OCR_ENGINES``: ``read(frame_rgb) -> list[(text, confidence)]``;
  a reader that also offers ``detect(frame) -> boxes`` and ``recognise(frame, boxes) -> lines``
  is scheduled by text region (``longvid.offline.text_regions``): only new or changed boxes are
  recognised.
- The detector runs at a reduced size (``SpacingConfig.det_max_side``); boxes are recognised
  from crops of the frame.
- PP-OCR drops spaces on tightly set text. The recogniser's CTC columns place each character in
  the crop, and the ink-free gap between neighbours (against the ink height and the line's own
  letter gaps) puts the spaces back; a very wide gap splits a box into two lines
  (``split_on_gaps``).
- ``same_text`` (normalised, fuzzy ratio >= 0.85) decides whether two reads are the same text,
  for de-duplication over time (``timeline.ocr_track``, one span per line).
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass

import numpy as np

from longvid.errors import require
from longvid.offline.text_regions import TextLine, reading_order
from longvid.registry import Registry
from longvid.types import TimedText

logger = logging.getLogger(__name__)

OCR_ENGINES: Registry = Registry("ocr", plural="ocr_engines")
register_ocr_engine = OCR_ENGINES.register
create_ocr_engine = OCR_ENGINES.create
list_ocr_engines = OCR_ENGINES.list

REC_HEIGHT, REC_STRIDE = 48, 8  # PP-OCR's recogniser input height and output step (pixels per column)
_SAME_TEXT_RATIO = 0.85  # fuzzy ratio above which two reads are the same text (OCR jitter)


@dataclass(frozen=True)
class SpacingConfig:
    det_max_side: int = 640  # the detector sees frames downscaled to this longest side (it only finds boxes)
    min_box_px: float = 6.0  # boxes thinner than this (frame pixels) are specks, not text
    space_gap: float = 0.35  # an ink-free run of columns at least this many ink heights wide (and twice the line's usual letter gap) is a word space
    split_gap: float = 1.6  # ...and one this wide separates two text boxes (two lines)
    ink_noise: float = 0.04  # a column with at most this share of ink pixels counts as ink-free


@OCR_ENGINES.register("rapidocr")
class RapidOcrReader:
    def __init__(self, *, min_confidence: float, max_side: int, min_chars: int, spacing: SpacingConfig = SpacingConfig()) -> None:
        """Options come from ``IndexSettings`` (``ocr_*`` fields), where their defaults live."""
        mod = require("rapidocr_onnxruntime", extra="offline", package="rapidocr-onnxruntime")
        # the detector runs at a reduced size (it only has to find text; the stock setting upscales
        # the short side to 736 px, many times slower), and the 180-degree classifier is skipped:
        # video overlays are upright
        self._engine = mod.RapidOCR(det_limit_side_len=spacing.det_max_side, det_limit_type="max", use_cls=False)
        self.min_confidence = min_confidence
        self.max_side = max_side
        self.min_chars = min_chars
        self.spacing = spacing

    def detect(self, frame: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Axis-aligned text boxes (x0, y0, x1, y1) in ``frame`` pixels, detector only (no recognition)."""
        boxes, _ = self._engine.text_det(np.ascontiguousarray(frame[:, :, ::-1]))  # the engine expects BGR
        out = []
        for pts in [] if boxes is None else boxes:
            pts = np.asarray(pts, np.float32)
            x0, y0 = float(pts[:, 0].min()), float(pts[:, 1].min())
            x1, y1 = float(pts[:, 0].max()), float(pts[:, 1].max())
            if y1 - y0 >= self.spacing.min_box_px and x1 - x0 >= self.spacing.min_box_px:
                out.append((x0, y0, x1, y1))
        return out

    def recognise(self, frame: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[TextLine]:
        """The text of each box, cropped from ``frame``; a box with a wide gap comes back as several lines."""
        import cv2

        if not boxes:
            return []
        h, w = frame.shape[:2]
        crops, origins = [], []
        for x0, y0, x1, y1 in boxes:
            a, b = max(0, int(x0)), max(0, int(y0))
            c, d = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
            crop = frame[b:d, a:c]
            scale = self.max_side / max(h, w)
            if scale < 1:  # recognise at the size the old whole-frame reader saw (no more detail than needed)
                crop = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale))),
                                  interpolation=cv2.INTER_AREA)
            crops.append(np.ascontiguousarray(crop[:, :, ::-1]))
            origins.append((a, b, c, d))
        results, _ = self._engine.text_rec(crops, True)
        lines: list[TextLine] = []
        for crop, (a, b, c, d), res in zip(crops, origins, results):
            text, conf = res[0], float(res[1])
            if conf < self.min_confidence:
                continue
            grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
            for part, (p0, p1) in split_on_gaps(grey, text, res[2] if len(res) > 2 else None, self.spacing):
                if alnum_count(part) >= self.min_chars:
                    fx = (c - a) / max(1, grey.shape[1])
                    lines.append(TextLine(part, conf, (a + p0 * fx, float(b), a + p1 * fx, float(d))))
        return lines

    def read(self, frame: np.ndarray) -> list[tuple[str, float]]:
        """Lines of text in an RGB uint8 frame, in reading order, with their confidence (every box read)."""
        return [(ln.text, ln.confidence) for ln in reading_order(self.recognise(frame, self.detect(frame)))]


def split_on_gaps(grey: np.ndarray, text: str, word_info, cfg: SpacingConfig) -> list[tuple[str, tuple[float, float]]]:
    """``text`` recognised from the grey crop, with spaces put back at wide ink-free gaps and split
    into separate pieces (with their column ranges) at very wide ones.

    The recogniser's CTC decoding says at which column each character was read (``word_info``:
    rapidocr's per-word characters and columns); between two neighbouring characters, the widest
    run of ink-free pixel columns, measured against the ink height, tells a word space (PP-OCR
    drops spaces on tightly set captions) and a gap between two boxes the detector joined.
    """
    w = grey.shape[1]
    if not word_info or len(word_info) < 3 or not text:
        return [(text.strip(), (0.0, float(w)))] if text.strip() else []
    # columns of the recogniser's output: the crop is resized to REC_HEIGHT rows and read in
    # steps of REC_STRIDE pixels (recomputed here: rapidocr's own count is off inside a batch)
    n_cols = max(1.0, np.ceil(REC_HEIGHT * w / max(1, grey.shape[0])) / REC_STRIDE)
    chars = [ch for word in word_info[1] for ch in word]
    cols = [col for word in word_info[2] for col in word]
    if len(chars) != len(cols) or not chars:
        return [(text.strip(), (0.0, float(w)))]
    ink = _ink_mask(grey)
    rows = np.nonzero(ink.mean(1) > cfg.ink_noise)[0]
    ink_h = float(rows[-1] - rows[0] + 1) if len(rows) else float(grey.shape[0])
    blank = ink.mean(0) <= cfg.ink_noise
    xs = [min(w - 1.0, (c + 0.5) / n_cols * w) for c in cols]
    runs = [_longest_run(blank, int(xs[i - 1]), int(xs[i])) for i in range(1, len(chars))]
    widths = [b - a for a, b in runs]
    # a word space is wide against the ink height and against this line's own letter gaps
    # (digits and narrow letters have wide side bearings in most fonts)
    letter = [wd for i, wd in enumerate(widths) if " " not in (chars[i], chars[i + 1])]
    space_min = max(cfg.space_gap * ink_h, 2.0 * float(np.median(letter)) + 1.0) if letter else cfg.space_gap * ink_h
    pieces: list[tuple[str, tuple[float, float]]] = []
    cur, start = chars[0], 0.0
    for i in range(1, len(chars)):
        (r0, r1), wd = runs[i - 1], widths[i - 1]
        if wd >= cfg.split_gap * ink_h:
            pieces.append((cur, (start, float(r0))))
            cur, start = chars[i], float(r1)
            continue
        if chars[i] != " " and chars[i - 1] != " " and wd >= space_min:
            cur += " "
        cur += chars[i]
    pieces.append((cur, (start, float(w))))
    out = []
    for piece, span in pieces:
        piece = re.sub(r"\s+", " ", piece).strip()
        if piece:
            out.append((piece, span))
    return out


def _ink_mask(grey: np.ndarray, clean: float = 0.75) -> np.ndarray:
    """Ink pixels of a text crop.

    On a clean crop (text on a plate or a flat background: Otsu's two grey classes explain at
    least ``clean`` of the variance) ink is the smaller of the two classes. On footage behind bare
    text a grey threshold takes bright footage for ink, so there ink is the strongest edges
    (text is what the detector found, its stroke edges are the crop's strongest; edges under
    half of them, colour bars and the like, are left out), closed over a stroke's width.
    """
    import cv2

    _, mask = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = mask.astype(bool)
    g = grey.astype(np.float32)
    var = float(g.var())
    if var > 0 and 0 < mask.mean() < 1:
        between = mask.mean() * (1 - mask.mean()) * (float(g[mask].mean()) - float(g[~mask].mean())) ** 2
        if between / var >= clean:
            return mask if mask.mean() < 0.5 else ~mask
    grad = np.maximum(np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)), np.abs(cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)))
    strong = float(np.percentile(grad, 98))
    if strong <= 0:
        return np.zeros(grey.shape, bool)
    edges = (grad >= 0.5 * strong).astype(np.uint8)
    k = max(3, grey.shape[0] // 8)  # fills the inside of a stroke, not a word space
    return cv2.morphologyEx(edges, cv2.MORPH_CLOSE, np.ones((1, k), np.uint8)).astype(bool)


def _longest_run(blank: np.ndarray, a: int, b: int) -> tuple[int, int]:
    """[start, end) of the longest run of True in ``blank[a:b]`` (absolute columns)."""
    best, s = (a, a), None
    for x in range(max(0, a), min(len(blank), b + 1)):
        if blank[x]:
            s = x if s is None else s
            if x + 1 - s > best[1] - best[0]:
                best = (s, x + 1)
        else:
            s = None
    return best


def alnum_count(text: str) -> int:
    """Letters and digits in a read: a stray glyph ("O", "|") has one or none."""
    return sum(ch.isalnum() for ch in text)


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


@dataclass(frozen=True)
class OcrRead:
    """One OCR read of a sampled frame."""

    time_s: float
    text: str | None  # every line on screen, LINE_SEP-joined in reading order; None: same as the previous read


LINE_SEP = " | "  # lines of one read are joined with this in ``OcrRead.text``


def same_text(a: str, b: str) -> bool:
    """Two reads of the same text, allowing OCR jitter (one letter in a short line)."""
    return difflib.SequenceMatcher(None, normalise(a), normalise(b)).ratio() >= _SAME_TEXT_RATIO


class OcrTrack:
    """Accumulates reads ``(time, text)`` into de-duplicated ``TimedText`` spans."""

    def __init__(self) -> None:
        self.items: list[TimedText] = []
        self._open: tuple[float, float, str, float] | None = None  # start, end, text, conf

    def add(self, time_s: float, text: str, confidence: float, span_s: float) -> None:
        """A read at ``time_s``; ``span_s`` is how long the frame stands for (until the next read)."""
        if self._open is not None:
            s, e, t, c = self._open
            if same_text(t, text):
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
