"""When to read on-screen text: from where the text is, not from whole-frame change.

Design decisions:
- Every sampled frame (1 fps) first passes a *gate*: a 160x90 grey copy is compared, cell by
  cell (10x10 pixel cells), with the copy taken at the last detection. When no cell changed by
  more than ``gate_diff`` grey levels, the picture (and so its text) is what was last read and
  nothing runs. A static slide costs one detection in all.
- A frame that passes the gate goes to the reader's text *detector* alone (PP-OCR's DB
  detector at a reduced size, tens of milliseconds). Each box found is matched to the boxes of
  the last detection (intersection over union >= ``match_iou``); a matched box whose pixels
  look the same (a normalised 64x16 grey signature within ``same_crop_diff``) keeps its text,
  and only new or changed boxes are cropped and sent to the recogniser, in one batch. A box
  that moved (scrolling text, a panning title) but has the size and look of a box of the last
  detection is that box's text, so a scrolling page costs only its new lines. So a
  caption is read on the first sampled frame it is on (a 2 s caption has at least one),
  a counter that ticks is re-read, and static text beside it is not.
- The result of a frame is the lines on screen, top to bottom, then left to right within a row
  (boxes whose vertical centres are within half a line height share a row). Each box is its
  own line: separate text boxes never merge into one line.
- Costs are counted (``RegionStats``: frames seen, gated out, detections, boxes recognised and
  seconds in each model) so that OCR cost per hour of video can be reported.
- Defaults live in ``RegionConfig`` (one place); nothing here depends on a particular OCR
  package: the reader only has to offer ``detect(frame) -> boxes`` and
  ``recognise(frame, boxes) -> lines``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class RegionConfig:
    gate_wh: tuple[int, int] = (160, 90)  # grey copy (w, h) the change gate compares
    gate_cell: int = 10  # cell side (pixels of the gate copy); a change is judged per cell
    gate_diff: float = 4.0  # mean |grey change| (0-255) in any one cell that sends a frame to the detector
    match_iou: float = 0.6  # a box this close to one of the last detection is the same place
    same_crop_diff: float = 0.3  # ``signature_difference`` of two crops under which their text is the same
    size_tolerance: float = 0.08  # a box moved elsewhere (scrolling) is the same text when its size is within this share and it looks the same


@dataclass(frozen=True)
class TextLine:
    """One recognised text box: its text, confidence and axis-aligned box (x0, y0, x1, y1) in frame pixels."""

    text: str
    confidence: float
    box: tuple[float, float, float, float]


class RegionReader(Protocol):
    def detect(self, frame: np.ndarray) -> list[tuple[float, float, float, float]]: ...

    def recognise(self, frame: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[TextLine]: ...


@dataclass
class RegionStats:
    frames: int = 0  # frames offered
    gated: int = 0  # frames the change gate let through to the detector
    detections: int = 0  # detector calls
    boxes_recognised: int = 0  # boxes cropped and sent to the recogniser
    recognitions: int = 0  # recogniser calls (one batch per frame with new boxes)
    detect_s: float = 0.0
    recognise_s: float = 0.0

    @property
    def seconds(self) -> float:
        return self.detect_s + self.recognise_s


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def crop_signature(grey: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """A 64x16 grey signature of a box, normalised to zero mean and unit spread (lighting-proof)."""
    from PIL import Image

    h, w = grey.shape
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(w, max(x0 + 1, round(box[2]))), min(h, max(y0 + 1, round(box[3])))
    sig = np.asarray(Image.fromarray(grey[y0:y1, x0:x1]).resize((64, 16), Image.Resampling.BOX), np.float32)
    return (sig - sig.mean()) / (sig.std() + 8.0)  # +8: a flat crop stays flat instead of amplifying noise


def signature_difference(a: np.ndarray, b: np.ndarray) -> float:
    """The largest mean |difference| over 8-column blocks of two signatures: one changed digit
    in a long line changes its block a lot and the line's mean little."""
    d = np.abs(a - b)
    return float(d.reshape(d.shape[0], 8, -1).mean(axis=(0, 2)).max())


def reading_order(lines: list[TextLine]) -> list[TextLine]:
    """Top to bottom; boxes whose vertical centres are within half a line height form a row, read left to right."""
    rows: list[list[TextLine]] = []
    for ln in sorted(lines, key=lambda x: (x.box[1] + x.box[3]) / 2):
        cy, hh = (ln.box[1] + ln.box[3]) / 2, ln.box[3] - ln.box[1]
        if rows:
            ref = rows[-1][0]
            if abs(cy - (ref.box[1] + ref.box[3]) / 2) < 0.5 * min(hh, ref.box[3] - ref.box[1]):
                rows[-1].append(ln)
                continue
        rows.append([ln])
    return [ln for row in rows for ln in sorted(row, key=lambda x: x.box[0])]


@dataclass
class _Track:
    box: tuple[float, float, float, float]
    signature: np.ndarray
    lines: list[TextLine]  # what the box read as (one box may split into several lines at wide gaps)


def _moved(lines: list[TextLine], old: tuple, new: tuple) -> list[TextLine]:
    dx, dy = new[0] - old[0], new[1] - old[1]
    return [TextLine(ln.text, ln.confidence, (ln.box[0] + dx, ln.box[1] + dy, ln.box[2] + dx, ln.box[3] + dy))
            for ln in lines]


class TextRegionTracker:
    """Feed frames in time order; ``update`` says what text is on screen when it may have changed."""

    def __init__(self, reader: RegionReader, cfg: RegionConfig = RegionConfig()) -> None:
        self.reader = reader
        self.cfg = cfg
        self.stats = RegionStats()
        self._gate: np.ndarray | None = None
        self._tracks: list[_Track] = []

    def update(self, frame: np.ndarray) -> list[TextLine] | None:
        """The lines on screen in reading order, or None when the frame cannot have changed them."""
        from PIL import Image

        self.stats.frames += 1
        pil = Image.fromarray(np.ascontiguousarray(frame)).convert("L")
        gate = np.asarray(pil.resize(self.cfg.gate_wh, Image.Resampling.BOX), np.float32)
        if self._gate is not None and _max_cell_change(gate, self._gate, self.cfg.gate_cell) <= self.cfg.gate_diff:
            return None
        self._gate = gate
        self.stats.gated += 1
        t0 = time.perf_counter()
        boxes = self.reader.detect(frame)
        self.stats.detect_s += time.perf_counter() - t0
        self.stats.detections += 1
        grey = np.asarray(pil)
        tracks: list[_Track | None] = []
        todo: list[int] = []
        for i, box in enumerate(boxes):
            sig = crop_signature(grey, box)
            prev = self._same_text(box, sig)
            if prev is not None:
                tracks.append(_Track(box, sig, _moved(prev.lines, prev.box, box)))
            else:
                tracks.append(_Track(box, sig, []))
                todo.append(i)
        if todo:
            t0 = time.perf_counter()
            read = self.reader.recognise(frame, [boxes[i] for i in todo])
            self.stats.recognise_s += time.perf_counter() - t0
            self.stats.recognitions += 1
            self.stats.boxes_recognised += len(todo)
            by_box: dict[int, list[TextLine]] = {i: [] for i in todo}
            for ln in read:  # each line names the box it came from by lying inside it
                k = max(todo, key=lambda i: _inside(ln.box, boxes[i]))
                by_box[k].append(ln)
            for i in todo:
                tracks[i].lines = by_box[i]
        self._tracks = [tr for tr in tracks if tr is not None]
        return reading_order([ln for tr in self._tracks for ln in tr.lines])


    def _same_text(self, box: tuple, sig: np.ndarray) -> _Track | None:
        """The box of the last detection showing the same text: at the same place, or (scrolled
        or moved text) of the same size anywhere, with the same look either way."""
        def close(tr: _Track) -> bool:
            return signature_difference(tr.signature, sig) < self.cfg.same_crop_diff

        here = max(self._tracks, key=lambda tr: iou(tr.box, box), default=None)
        if here is not None and iou(here.box, box) >= self.cfg.match_iou and close(here):
            return here
        bw, bh = box[2] - box[0], box[3] - box[1]
        for tr in self._tracks:
            tw, th = tr.box[2] - tr.box[0], tr.box[3] - tr.box[1]
            if abs(tw - bw) <= self.cfg.size_tolerance * bw and abs(th - bh) <= self.cfg.size_tolerance * bh and close(tr):
                return tr
        return None


def _inside(inner: tuple[float, float, float, float], outer: tuple[float, float, float, float]) -> float:
    area = max(1e-6, (inner[2] - inner[0]) * (inner[3] - inner[1]))
    ix = max(0.0, min(inner[2], outer[2]) - max(inner[0], outer[0]))
    iy = max(0.0, min(inner[3], outer[3]) - max(inner[1], outer[1]))
    return ix * iy / area


def _max_cell_change(a: np.ndarray, b: np.ndarray, cell: int) -> float:
    h, w = a.shape
    d = np.abs(a - b)[: h - h % cell, : w - w % cell]
    return float(d.reshape(h // cell, cell, w // cell, cell).mean(axis=(1, 3)).max())
