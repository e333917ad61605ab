"""Audio track as 16 kHz mono float32 samples (for speech recognition).

Design decisions:
- PyAV decodes and FFmpeg's resampler (swresample) converts to mono float at the target rate in
  one step, so any codec/layout/rate in any container works the same way.
- ``iter_audio`` streams fixed-length chunks (memory bounded by one chunk); ``read_audio`` is the
  same stream concatenated, for short files and tests.
- Times are on the video clock: ``AudioClip.start_s`` is the presentation time of the chunk's
  first sample (from the first decoded audio frame's pts), so transcripts line up with frames.
- A file without an audio stream raises ``NoAudioStreamError`` naming the streams it has; it is
  never replaced by silence.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

from longvid.errors import CorruptVideoError, LongvidError, VideoError
from longvid.io.probe import open_input
from longvid.types import AudioClip

logger = logging.getLogger(__name__)


class NoAudioStreamError(VideoError):
    """The file has no audio stream to read."""


@dataclass(frozen=True)
class AudioConfig:
    sample_rate: int = 16000  # Hz; what Whisper-family speech models expect
    chunk_s: float = 30.0  # seconds per streamed chunk; Whisper's window


def iter_audio(
    path: str | os.PathLike,
    chunk_s: float = AudioConfig.chunk_s,
    sample_rate: int = AudioConfig.sample_rate,
    *,
    stream_index: int | None = None,
) -> Iterator[AudioClip]:
    """Stream the audio track as mono float32 chunks of ``chunk_s`` seconds (the last is shorter)."""
    import av
    import numpy as np

    if not (chunk_s > 0 and sample_rate > 0):
        raise LongvidError(f"chunk_s={chunk_s!r} and sample_rate={sample_rate!r} must both be > 0")
    chunk_len = max(1, int(round(chunk_s * sample_rate)))
    with open_input(path) as container:
        streams = list(container.streams.audio)
        if stream_index is not None:
            streams = [s for s in streams if s.index == stream_index]
        if not streams:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise NoAudioStreamError(
                f"{str(path)!r} has no audio stream (streams: {', '.join(kinds)}); "
                "speech cannot be transcribed from it: use subtitles or on-screen text instead"
            )
        stream = streams[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        parts: list[np.ndarray] = []
        have = 0
        start_s: float | None = None
        emitted = 0

        def take(count: int) -> np.ndarray:
            nonlocal parts, have
            flat = np.concatenate(parts)
            out, rest = flat[:count], flat[count:]
            parts, have = ([rest] if len(rest) else []), len(rest)
            return out

        def frames() -> Iterator:
            try:
                for frame in container.decode(stream):
                    yield from resampler.resample(frame)
            except av.FFmpegError as exc:
                logger.warning("%s: audio decoding stopped early (%s)", path, exc)
            yield from resampler.resample(None)  # flush the resampler's delay

        for out in frames():
            if start_s is None:
                start_s = float(out.time) if out.pts is not None else 0.0
            arr = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            parts.append(arr)
            have += len(arr)
            while have >= chunk_len:
                yield AudioClip(take(chunk_len), sample_rate, start_s + emitted / sample_rate)
                emitted += chunk_len
        if have:
            yield AudioClip(take(have), sample_rate, (start_s or 0.0) + emitted / sample_rate)
        elif start_s is None:
            raise CorruptVideoError(f"{str(path)!r}: the audio stream has no decodable samples")


def read_audio(
    path: str | os.PathLike, sample_rate: int = AudioConfig.sample_rate, *, stream_index: int | None = None
) -> AudioClip:
    """The whole audio track as one mono float32 clip. For long files prefer :func:`iter_audio`."""
    import numpy as np

    clips = list(iter_audio(path, chunk_s=600.0, sample_rate=sample_rate, stream_index=stream_index))
    return AudioClip(np.concatenate([c.samples for c in clips]), sample_rate, clips[0].start_s)
