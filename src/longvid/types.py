"""Typed results shared by every stage.

Every result carries timestamps (seconds, presentation time on the video's own clock), so that
any answer can point back at moments of the video. Arrays are numpy for decoded pixels and
torch for features/tokens; this module imports neither at import time.

Shapes are checked in ``__post_init__`` and a mismatch raises ``InvalidFeaturesError`` (not an
``assert``, which ``python -O`` strips): results are also built by third-party decoders,
encoders and compressors, and a wrong shape must stop there, named, not three stages later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from longvid.errors import InvalidFeaturesError

if TYPE_CHECKING:
    import numpy as np
    import torch


def _check(ok: bool, what: str, detail) -> None:
    """Raise ``InvalidFeaturesError`` naming the result type and the offending shapes."""
    if not ok:
        raise InvalidFeaturesError(f"invalid {what}: {detail()}")


# ----------------------------------------------------------------------------- video and streams
@dataclass(frozen=True)
class AudioStreamInfo:
    index: int  # stream index in the container
    codec: str
    sample_rate: int
    channels: int
    language: str | None = None
    duration_s: float | None = None


@dataclass(frozen=True)
class SubtitleStreamInfo:
    index: int
    codec: str  # "subrip", "ass", "mov_text", "webvtt", "dvd_subtitle" (bitmap)...
    language: str | None = None
    is_text: bool = True  # bitmap subtitles cannot be read as text


@dataclass(frozen=True)
class VideoInfo:
    path: str
    container: str  # format name as FFmpeg reports it
    codec: str  # video codec name
    width: int  # coded size, before rotation
    height: int
    rotation: int  # degrees clockwise to display upright: 0, 90, 180, 270
    fps: float  # average frame rate
    is_variable_fps: bool
    duration_s: float
    start_s: float  # presentation time of the first video frame (ffmpeg+AAC files start at 0.023)
    num_frames: int | None  # from the container, when it says; estimated otherwise
    num_keyframes: int | None  # only known after a scan; None when not scanned
    bit_rate: int | None
    audio: tuple[AudioStreamInfo, ...] = ()
    subtitles: tuple[SubtitleStreamInfo, ...] = ()
    size_bytes: int = 0
    pixel_aspect: float = 1.0  # sample aspect ratio: width of one pixel over its height (anamorphic video)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown: non-square pixels stretched, rotation applied."""
        w = max(1, round(self.width * self.pixel_aspect))
        if self.rotation in (90, 270):
            return self.height, w
        return w, self.height

    @property
    def has_audio(self) -> bool:
        return bool(self.audio)


# ----------------------------------------------------------------------------- decoded frames
@dataclass(frozen=True)
class FrameBatch:
    """A batch of decoded frames, RGB uint8 ``(B, H, W, 3)``, with exact timestamps.

    ``timestamps_s`` is the real presentation time of each returned frame; ``targets_s`` is the
    time that was asked for. In exact mode they agree to within one frame duration (the frame on
    screen at the target); fast modes report how far off they are instead of hiding it.
    """

    frames: np.ndarray  # (B, H, W, 3) uint8 RGB
    timestamps_s: np.ndarray  # (B,) float64, the frames' own presentation times
    targets_s: np.ndarray  # (B,) float64, the sample times that were asked for
    indices: np.ndarray  # (B,) int64, position of each frame in the whole sampled sequence

    def __post_init__(self) -> None:
        b = self.frames.shape[0]
        _check(self.frames.ndim == 4 and self.frames.shape[3] == 3, "FrameBatch",
               lambda: f"frames must be (B, H, W, 3) RGB, got {tuple(self.frames.shape)}")
        for name in ("timestamps_s", "targets_s", "indices"):
            _check(getattr(self, name).shape == (b,), "FrameBatch",
                   lambda name=name: f"{name} has shape {getattr(self, name).shape} for {b} frames")

    def __len__(self) -> int:
        return int(self.frames.shape[0])


# ----------------------------------------------------------------------------- timed text
@dataclass(frozen=True)
class TimedText:
    """A span of text tied to the video clock: a subtitle cue, a transcript segment, OCR text."""

    start_s: float
    end_s: float
    text: str
    source: Literal["subtitle", "speech", "ocr", "tag", "other"] = "other"
    confidence: float | None = None

    def __post_init__(self) -> None:
        _check(self.end_s >= self.start_s, "TimedText", lambda: f"ends at {self.end_s} s before it starts ({self.start_s} s)")


@dataclass(frozen=True)
class AudioClip:
    """Mono float32 samples in [-1, 1] at ``sample_rate`` (16 kHz for speech recognition)."""

    samples: np.ndarray  # (S,) float32
    sample_rate: int
    start_s: float  # video time of samples[0]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


# ----------------------------------------------------------------------------- features and tokens
@dataclass(frozen=True)
class FrameFeatures:
    """Per-frame patch features ``(T, N, D)`` on an ``h x w`` grid (N == h * w)."""

    features: torch.Tensor  # (T, N, D)
    grid: tuple[int, int]  # (h, w)
    timestamps_s: torch.Tensor  # (T,) float64 seconds
    frame_indices: torch.Tensor  # (T,) int64, index of each frame in the sampled sequence

    def __post_init__(self) -> None:
        t, n, _ = self.features.shape
        _check(n == self.grid[0] * self.grid[1], "FrameFeatures", lambda: f"{n} tokens per frame on a {self.grid} grid")
        for name in ("timestamps_s", "frame_indices"):
            _check(tuple(getattr(self, name).shape) == (t,), "FrameFeatures",
                   lambda name=name: f"{name} has shape {tuple(getattr(self, name).shape)} for {t} frames")

    def __len__(self) -> int:
        return int(self.features.shape[0])


@dataclass(frozen=True)
class StageStats:
    """What one compression stage did."""

    stage: str
    frames_in: int
    frames_out: int
    tokens_in: int
    tokens_out: int
    seconds: float = 0.0
    note: str = ""


@dataclass(frozen=True)
class VisualTokens:
    """Tokens on their way to the LLM, each traceable to its source.

    For output token ``i``: ``frame_indices[i]`` is the sampled-frame index it came from,
    ``timestamps_s[i]`` that frame's time, ``cells[i]`` the grid cell on the source frame's grid
    (row-major; on the coarser grid ``cell_grids[i]`` when the token was pooled/resized), or -1 for a token that summarises the whole frame or window (mean pool, context
    token, summary token).
    """

    tokens: torch.Tensor  # (M, D)
    frame_indices: torch.Tensor  # (M,) int64
    timestamps_s: torch.Tensor  # (M,) float64
    cells: torch.Tensor  # (M,) int64, -1 = not a single cell
    stats: tuple[StageStats, ...] = ()
    # (M, 2) int64: the (h, w) grid that cells[i] indexes. A pooled or low-resolution token sits on
    # a coarser grid covering the same image area as the source grid; None = not recorded.
    cell_grids: torch.Tensor | None = None

    def __post_init__(self) -> None:
        m = self.tokens.shape[0]
        _check(self.tokens.ndim == 2, "VisualTokens", lambda: f"tokens must be (M, D), got {tuple(self.tokens.shape)}")
        for name in ("frame_indices", "timestamps_s", "cells"):
            _check(tuple(getattr(self, name).shape) == (m,), "VisualTokens",
                   lambda name=name: f"{name} has shape {tuple(getattr(self, name).shape)} for {m} tokens")
        if self.cell_grids is not None:
            _check(tuple(self.cell_grids.shape) == (m, 2), "VisualTokens",
                   lambda: f"cell_grids has shape {tuple(self.cell_grids.shape)} for {m} tokens")

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    def tokens_per_frame(self) -> dict[int, int]:
        """Frame index -> how many tokens of it survived."""
        import torch

        idx, counts = torch.unique(self.frame_indices, return_counts=True)
        return {int(i): int(c) for i, c in zip(idx.tolist(), counts.tolist())}


# ----------------------------------------------------------------------------- answers
@dataclass(frozen=True)
class Moment:
    """A span of a video that an answer or a search result rests on."""

    start_s: float
    end_s: float
    video: str = ""
    score: float = 0.0

    def label(self) -> str:
        return f"[{format_timestamp(self.start_s)}-{format_timestamp(self.end_s)}]"


@dataclass(frozen=True)
class Evidence:
    moment: Moment
    transcript: str = ""
    on_screen_text: str = ""
    tags: tuple[str, ...] = ()
    keyframe: str | None = None  # path to a saved keyframe image
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    evidence: tuple[Evidence, ...]
    grounded: bool  # the answer's key words/numbers appear in the evidence
    engine: str
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def moments(self) -> tuple[Moment, ...]:
        return tuple(e.moment for e in self.evidence)


_CITED_TIME = re.compile(r"\b(?:(\d{1,2}):)?(\d{1,3}):([0-5]\d)\b")


def cited_times(text: str) -> list[float]:
    """Every ``m:ss`` or ``h:mm:ss`` time in ``text`` (as :func:`format_timestamp` writes them), in
    seconds, in order of appearance."""
    return [int(h or 0) * 3600 + int(m) * 60 + int(s) for h, m, s in _CITED_TIME.findall(text)]


def format_timestamp(seconds: float) -> str:
    """12:31, or 1:02:03 past the hour."""
    s = max(0, int(round(seconds)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
