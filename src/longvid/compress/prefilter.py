"""Pre-filter: drop near-duplicate frames on cheap thumbnails before any heavy encoder runs.

Encoding, not decoding, is the cost of a long video (an hour decodes in about a minute but takes
4 to 38 minutes to encode), and LongVU runs DINOv2-giant on every frame before dropping any. This
stage runs LongVU's windowed temporal rule on tiny thumbnails so duplicates are never encoded.

Design decisions:
- Thumbnail: a 64x64 lattice of pixels sampled on uint8 (cheap), 2x2-averaged to 32x32 (colour
  by default, or grey), scaled to [-1, 1]. Cosine similarity of these vectors
  is near 1 for the same shot and drops with motion, cuts and fades to other content. Flat
  frames (black) are still comparable: a black frame is all -1, not a zero vector.
- Rule: LongVU's (windows of 16, mean similarity to the window, middle frame always kept) with
  a stricter threshold, 0.95 rather than DINO's 0.83: pixels see less than DINO, so only clear
  near-duplicates go. No 400-frame guard here; that stays with the token compressor.
- Streaming: ``prefilter_frames`` consumes ``FrameBatch`` iterators of any batch size and yields
  batches of kept frames as soon as their window is complete. Each frame goes into the
  ``TemporalReducer`` with a ``Row`` (its batch, its row) as payload, so the reducer holds the at most
  ``window - 1`` undecided frames and this module no buffer of its own; memory is O(window),
  whatever the video length.
- The yielded batches keep each frame's ``indices``, so downstream features and tokens keep
  pointing at the right moments; ``stats`` says how many frames were dropped and what it cost.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from longvid.compress.temporal import Row, Settled, TemporalConfig, TemporalReducer, by_batch, rows_of
from longvid.errors import InvalidFeaturesError
from longvid.types import FrameBatch, StageStats


@dataclass(frozen=True)
class PrefilterConfig:
    thumbnail: tuple[int, int] = (32, 32)  # (h, w) of the thumbnails compared (area-averaged)
    colour: bool = True  # compare RGB thumbnails (False: grey, a third of the work)
    threshold: float = 0.95  # drop frames whose mean similarity to their window reaches this (pixels)
    window_frames: int = 16  # LongVU's window size; the window's middle frame is always kept

    def __post_init__(self) -> None:
        if min(self.thumbnail) < 1:
            raise InvalidFeaturesError(f"thumbnail must be at least 1x1, got {self.thumbnail}")
        if not -1.0 <= self.threshold <= 1.0:
            raise InvalidFeaturesError(f"threshold is a cosine similarity in [-1, 1], got {self.threshold}")


def thumbnails(frames: np.ndarray | torch.Tensor, config: PrefilterConfig = PrefilterConfig()) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 RGB -> ``(B, F)`` float32 in [-1, 1] (F = h*w*3, or h*w for grey).

    Samples a ``2h x 2w`` lattice of pixels (evenly spread rows and columns, on uint8: a gather of
    a few kilobytes per frame) and averages 2x2 blocks. Far cheaper than an area resize of the
    full frame, and as good for telling shots apart.
    """
    x = frames.cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise InvalidFeaturesError(f"frames must be (B, H, W, 3) RGB, got {tuple(x.shape)}")
    b, hh, ww, _ = x.shape
    th, tw = config.thumbnail
    rows = ((np.arange(2 * th) + 0.5) * hh / (2 * th)).astype(np.int64)
    cols = ((np.arange(2 * tw) + 0.5) * ww / (2 * tw)).astype(np.int64)
    y = x[:, rows][:, :, cols].astype(np.float32)  # (B, 2h, 2w, 3); numpy: tiny arrays, no thread overhead
    y = y[:, 0::2, 0::2] + y[:, 1::2, 0::2] + y[:, 0::2, 1::2] + y[:, 1::2, 1::2]
    if not config.colour:
        y = y @ np.array([[0.299], [0.587], [0.114]], dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(y).reshape(b, -1) / (4 * 127.5) - 1.0)


class FramePrefilter:
    """Streaming near-duplicate filter over ``FrameBatch`` iterators (see module docstring)."""

    def __init__(self, config: PrefilterConfig = PrefilterConfig()) -> None:
        self.config = config
        self.frames_in = 0
        self.frames_out = 0
        self.seconds = 0.0

    @property
    def stats(self) -> StageStats:
        dropped = self.frames_in - self.frames_out
        return StageStats("prefilter", self.frames_in, self.frames_out, 0, 0, self.seconds,
                          f"dropped {dropped} near-duplicate frames before encoding")

    def __call__(self, batches: Iterable[FrameBatch]) -> Iterator[FrameBatch]:
        cfg = self.config
        red: TemporalReducer[Row[FrameBatch]] = TemporalReducer(
            TemporalConfig(window_frames=cfg.window_frames, threshold=cfg.threshold, max_frames=None))
        for n, batch in enumerate(batches):
            if not isinstance(batch, FrameBatch):
                raise InvalidFeaturesError(f"expected FrameBatch items, got {type(batch).__name__}")
            if len(batch) == 0:
                continue
            t0 = time.perf_counter()
            self.frames_in += len(batch)
            out = self._release(t0, red.push(thumbnails(batch.frames, cfg), rows_of(n, batch, len(batch))))
            if out is not None:
                yield out
        out = self._release(time.perf_counter(), red.finish())
        if out is not None:
            yield out

    def _release(self, t0: float, settled: list[Settled[Row[FrameBatch]]]) -> FrameBatch | None:
        """The kept frames of the windows that closed; counts them and the time since ``t0``."""
        out = _kept_frames(settled)
        self.seconds += time.perf_counter() - t0
        self.frames_out += 0 if out is None else len(out)
        return out


def _kept_frames(settled: list[Settled[Row[FrameBatch]]]) -> FrameBatch | None:
    """One ``FrameBatch`` of the kept frames among ``settled`` (None if none); only they are copied."""
    parts: list[FrameBatch] = []
    for b, rows in by_batch(s.payload for s in settled if s.kept):
        sel = np.array(rows)
        parts.append(FrameBatch(b.frames[sel], b.timestamps_s[sel], b.targets_s[sel], b.indices[sel]))
    if len(parts) <= 1:
        return parts[0] if parts else None
    return FrameBatch(*(np.concatenate([getattr(p, k) for p in parts])
                        for k in ("frames", "timestamps_s", "targets_s", "indices")))


def prefilter_frames(batches: Iterable[FrameBatch], config: PrefilterConfig = PrefilterConfig()
                     ) -> Iterator[FrameBatch]:
    """Yield only the frames that are not near-duplicates (streaming; see ``FramePrefilter``)."""
    return FramePrefilter(config)(batches)
