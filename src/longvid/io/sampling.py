"""Frame sampling: which times to sample (``SamplingConfig`` -> targets) and the streaming loop.

Design decisions:
- Sampling is planned as a sorted array of *target times* (seconds on the video clock) before
  any decoding. A decoder's only job is "for each target, the frame on screen at it" (exact mode)
  or a nearby frame whose real time is reported (fast modes). Targets and real timestamps both
  travel in every ``FrameBatch``, so nothing downstream has to trust a frame index.
- By rate (``fps``): targets ``start, start + 1/fps, ...`` while inside the video; the default
  is ``DEFAULT_FPS`` = 1 frame per second, the rate LongVU's and LongVA's demos sample at (the
  one place this default lives: other stages import it). By count (``num_frames``): ``N`` times
  spread evenly from the first to the last frame, including both ends, as LongVA/Video-XL do
  with ``linspace(0, n_frames - 1, N)``. ``max_frames`` caps a rate plan by switching to an even
  spread of ``max_frames`` over the whole video (never by cutting the end off).
- ``fps`` and ``num_frames`` are exclusive. ``fps=None`` (the default) means "``DEFAULT_FPS``
  unless ``num_frames`` is given", so ``SamplingConfig(num_frames=8)`` is a count plan while
  ``SamplingConfig(fps=1.0, num_frames=8)`` (any explicit rate next to a count) is an error,
  never a silent choice. After construction ``fps`` holds the rate in use (``None`` for a count
  plan): ``SamplingConfig().fps == 1.0``. To turn a rate config into a count one with
  ``dataclasses.replace``, pass ``fps=None`` too.
- ``start_s``/``end_s`` restrict decoding to a time window of the same plan: times and
  ``indices`` are those of the whole plan, so a resumed run continues one that was cut off,
  and exact mode seeks straight to the window.
- The output is an iterator of ``FrameBatch`` of ``batch_size`` frames: memory is bounded by one
  batch plus the decoder's own buffers, whatever the video length.
- A video shorter than one sample interval still gives its first frame (``on_short="first"``,
  logged), because a 0.4 s clip sampled at 1 fps has a meaningful frame at 0 s; set
  ``on_short="error"`` to get ``VideoTooShortError`` instead. Zero duration is always an error.
- String options are ``Literal`` types (``longvid.io.options``), checked on construction with an
  error that names the allowed values; a decoder gets only the options it acts on, keyword-only
  (this module imports ``decoders``, never the reverse).
- A file that ends early (truncated) yields the frames it has and logs a warning saying how far
  it got (``on_truncated="warn"``); ``on_truncated="error"`` raises ``CorruptVideoError`` after
  the readable frames instead. A file with no decodable frame at all always raises.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from longvid.errors import InvalidSamplingError, VideoTooShortError
from longvid.io.decoders import DECODERS
from longvid.io.geometry import plan_geometry
from longvid.io.options import DecodeMode, OnShort, OnTruncated, ResizeMode, check_choice

if TYPE_CHECKING:
    import numpy as np

    from longvid.types import FrameBatch, VideoInfo

logger = logging.getLogger(__name__)

SamplingMode = DecodeMode  # the sampling modes are the decode modes
ProgressFn = Callable[[float, float], None]

# Limits that make a request absurd rather than merely large.
MAX_FPS = 240.0  # no common video is faster; higher rates only duplicate frames
MAX_NUM_FRAMES = 100_000  # ~28 hours at 1 fps; beyond this a caller wants a rate, not a count
MAX_SIZE = 8192  # output side in pixels
MAX_BATCH = 4096
# Samples per second when neither fps nor num_frames is given: LongVU's and LongVA's demos sample at
# 1 fps. The one place this default lives; other stages import it.
DEFAULT_FPS = 1.0


@dataclass(frozen=True)
class SamplingConfig:
    """What to sample and how. Give ``fps`` or ``num_frames`` (not both); neither means ``DEFAULT_FPS``."""

    fps: float | None = None  # samples per second of video; None = DEFAULT_FPS unless num_frames (then None)
    num_frames: int | None = None  # N frames spread evenly from first to last frame (LongVA, Video-XL)
    max_frames: int | None = None  # cap for a rate plan: above it, spread max_frames evenly instead
    mode: SamplingMode = "exact"  # exact: frame on screen at each target; nonref/keyframes: faster, near
    size: int | None = None  # output side in pixels (square for pad/crop/stretch); None = native
    resize: ResizeMode = "pad"  # pad (LongVU), crop (LongVA/CLIP), stretch, none (decoded size)
    pad_rgb: tuple[int, int, int] = (127, 127, 127)  # SigLIP image mean (0.5) in 0..255
    batch_size: int = 16  # frames per FrameBatch: bounds memory
    decoder: str | None = None  # a DECODERS name; None = the default for ``mode``
    seek_threshold_s: float = 5.0  # exact mode seeks when the next target is this far ahead (73 ms/seek)
    on_short: OnShort = "first"  # video shorter than one interval: first frame or error
    on_truncated: OnTruncated = "warn"  # file ends early: keep what was read, or raise
    start_s: float | None = None  # decode only targets at or after this video time (resume, clips)
    end_s: float | None = None  # ... and before this one; the plan (times, indices) stays the full one

    def __post_init__(self) -> None:
        fps, n = self.fps, self.num_frames
        if fps is not None and n is not None:
            raise InvalidSamplingError(
                f"fps={fps!r} and num_frames={n!r} were both given: give exactly one of fps= (samples per "
                "second) or num_frames= (a count); with dataclasses.replace, pass fps=None next to num_frames"
            )
        if fps is None and n is None:
            fps = DEFAULT_FPS
            object.__setattr__(self, "fps", fps)
        if fps is not None and not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
            raise InvalidSamplingError(f"fps={fps!r} is out of range: use 0 < fps <= {MAX_FPS:g} (e.g. 1.0 or 0.5)")
        if n is not None and not (isinstance(n, int) and 1 <= n <= MAX_NUM_FRAMES):
            raise InvalidSamplingError(f"num_frames={n!r} is out of range: use an integer 1..{MAX_NUM_FRAMES}")
        if self.max_frames is not None and not (
            isinstance(self.max_frames, int) and 1 <= self.max_frames <= MAX_NUM_FRAMES
        ):
            raise InvalidSamplingError(
                f"max_frames={self.max_frames!r} is out of range: use None or an integer 1..{MAX_NUM_FRAMES}"
            )
        check_choice("mode", self.mode, SamplingMode)
        check_choice("resize", self.resize, ResizeMode)
        check_choice("on_short", self.on_short, OnShort)
        check_choice("on_truncated", self.on_truncated, OnTruncated)
        if self.size is not None and not (isinstance(self.size, int) and 1 <= self.size <= MAX_SIZE):
            raise InvalidSamplingError(f"size={self.size!r} is out of range: use None or an integer 1..{MAX_SIZE}")
        if self.size is not None and self.resize == "none":
            raise InvalidSamplingError("size= was given with resize='none': use resize='pad', 'crop' or 'stretch'")
        if not (isinstance(self.batch_size, int) and 1 <= self.batch_size <= MAX_BATCH):
            raise InvalidSamplingError(f"batch_size={self.batch_size!r} is out of range: use 1..{MAX_BATCH}")
        if not (self.seek_threshold_s > 0):
            raise InvalidSamplingError(f"seek_threshold_s={self.seek_threshold_s!r} must be > 0 seconds")
        for name in ("start_s", "end_s"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise InvalidSamplingError(f"{name}={v!r} must be a finite time in seconds or None")
        if self.start_s is not None and self.end_s is not None and self.end_s <= self.start_s:
            raise InvalidSamplingError(f"end_s={self.end_s} must be after start_s={self.start_s}")
        if len(self.pad_rgb) != 3 or not all(0 <= int(c) <= 255 for c in self.pad_rgb):
            raise InvalidSamplingError(f"pad_rgb={self.pad_rgb!r}: use three integers 0..255")


DEFAULT_DECODER: dict[SamplingMode, str] = {"exact": "pyav-exact", "nonref": "pyav-nonref", "keyframes": "pyav-keyframes"}


def max_rate(info: VideoInfo) -> float:
    """The fastest sampling rate that still gives distinct frames: the video's frame rate (twice
    its average for variable-rate files, whose frames bunch up); 0 when the rate is unknown."""
    return info.fps * (2.0 if info.is_variable_fps else 1.0)


def capped_rate(info: VideoInfo, fps: float) -> float:
    """``fps``, or the video's :func:`max_rate` when that is slower (a 0.5 fps timelapse sampled
    "at 1 fps" gives each of its frames once). For callers whose rate is a default rather than a
    user's explicit request; an explicit too-fast ``SamplingConfig.fps`` stays an error."""
    limit = max_rate(info)
    if 0 < limit < fps:
        logger.info("%s: %.3f fps is faster than the video's own %.3f fps; sampling every frame instead",
                    info.path, fps, limit)
        return limit
    return fps


def plan_targets(info: VideoInfo, cfg: SamplingConfig) -> np.ndarray:
    """Sorted target times (float64 seconds) for ``cfg`` on the video ``info`` describes."""
    import numpy as np

    start, dur = info.start_s, info.duration_s
    if not dur > 0:
        raise VideoTooShortError(f"{info.path!r} has zero duration; pass a longer video")
    frame_s = 1.0 / info.fps if info.fps > 0 else 0.0
    last = start + max(0.0, dur - frame_s)  # time of the last frame
    if cfg.fps is not None:
        # Absurd only relative to the video: faster than its frame rate repeats frames.
        limit = max_rate(info)
        if info.fps > 0 and cfg.fps > limit * 1.0001:
            raise InvalidSamplingError(
                f"fps={cfg.fps:g} is faster than the video's frame rate ({info.fps:.3f} fps): "
                f"use 0 < fps <= {limit:.3f}"
            )
        interval = 1.0 / cfg.fps
        if dur < interval:
            msg = f"{info.path!r} lasts {dur:.3f} s, shorter than one sample interval ({interval:g} s at fps={cfg.fps:g})"
            if cfg.on_short == "error":
                raise VideoTooShortError(msg + "; lower fps or use num_frames")
            logger.warning("%s: returning its first frame only", msg)
        count = max(1, math.ceil(dur * cfg.fps - 1e-9))
        if cfg.max_frames is not None and count > cfg.max_frames:
            return np.linspace(start, last, cfg.max_frames)
        return start + np.arange(count, dtype=np.float64) / cfg.fps
    n = cfg.num_frames
    assert n is not None  # internal invariant: SamplingConfig holds exactly one of fps and num_frames
    if info.num_frames and n > info.num_frames:
        raise InvalidSamplingError(
            f"num_frames={n} is more than the video has ({info.num_frames} frames): use 1..{info.num_frames}"
        )
    if cfg.max_frames is not None:
        n = min(n, cfg.max_frames)
    if n == 1:
        return np.array([start], dtype=np.float64)
    return np.linspace(start, last, n)


def sample_frames(
    path: str | os.PathLike,
    cfg: SamplingConfig | None = None,
    progress: ProgressFn | None = None,
    *,
    info: VideoInfo | None = None,
) -> Iterator[FrameBatch]:
    """Stream ``FrameBatch`` es sampled from ``path`` as ``cfg`` says (bounded memory).

    ``progress(done_s, total_s)`` is called after each batch with the video time reached.
    Pass ``info`` from an earlier :func:`probe` to skip probing again.
    """
    import numpy as np

    from longvid.io.probe import probe

    cfg = cfg or SamplingConfig()
    info = info or probe(path)
    targets = plan_targets(info, cfg)
    geometry = plan_geometry(
        (info.width, info.height), info.rotation, cfg.size, cfg.resize, cfg.pad_rgb, info.pixel_aspect
    )
    name = cfg.decoder or DEFAULT_DECODER[cfg.mode]
    if name not in DECODERS:
        raise InvalidSamplingError(f"decoder={name!r} is unknown: use one of {', '.join(DECODERS.list())}")
    decoder = DECODERS.create(name)
    # A time window keeps the full plan's times and indices, so a resumed run matches a whole one.
    first = 0 if cfg.start_s is None else int(np.searchsorted(targets, cfg.start_s - 1e-6))
    stop = len(targets) if cfg.end_s is None else int(np.searchsorted(targets, cfg.end_s - 1e-6))
    window = targets[first:stop]
    logger.debug("sampling %d targets from %s with %s", len(window), info.path, type(decoder).__name__)
    if not len(window):
        return iter(())
    frames = decoder.frames(
        info, window, geometry, seek_threshold_s=cfg.seek_threshold_s, on_truncated=cfg.on_truncated
    )
    return _batched(frames, window, first, cfg, info, progress)


def _batched(frames, targets, first: int, cfg: SamplingConfig, info: VideoInfo, progress: ProgressFn | None):
    import numpy as np

    from longvid.types import FrameBatch

    buf: list = []
    times: list[float] = []
    idx: list[int] = []

    def flush() -> FrameBatch:
        batch = FrameBatch(
            frames=np.stack(buf),
            timestamps_s=np.asarray(times, dtype=np.float64),
            targets_s=targets[np.asarray(idx, dtype=np.int64)],
            indices=np.asarray(idx, dtype=np.int64) + first,
        )
        buf.clear(), times.clear(), idx.clear()
        if progress is not None:
            progress(min(info.duration_s, float(batch.targets_s[-1]) - info.start_s), info.duration_s)
        return batch

    for arr, pts, i in frames:
        buf.append(arr)
        times.append(pts)
        idx.append(i)
        if len(buf) >= cfg.batch_size:
            yield flush()
    if buf:
        yield flush()
    if progress is not None:
        progress(info.duration_s, info.duration_s)
