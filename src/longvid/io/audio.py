"""Audio track as 16 kHz mono float32 samples (for speech recognition).

Design decisions:
- PyAV decodes and FFmpeg's resampler (swresample) converts to mono float at the target rate in
  one step, so any codec/layout/rate in any container works the same way.
- ``iter_audio`` streams fixed-length chunks (memory bounded by one chunk); ``read_audio`` is the
  same stream concatenated, for short files and tests.
- Times are on the video clock: ``AudioClip.start_s`` is the presentation time of the chunk's
  first sample (from the first decoded audio frame's pts), so transcripts line up with frames.
  Samples are kept in step with the stream's timestamps: where the timestamps jump ahead
  (a gap) silence is inserted, where they overlap (joined files repeat encoder priming: about
  23 ms per join) the repeated samples are dropped. Without this, an hour of joined segments
  drifts by more than a second and speech lands at the wrong moment.
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
    max_drift_s: float = 0.02  # timestamp gap/overlap tolerated before padding/dropping (< one AAC frame)


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

        total = 0  # samples accepted so far (padding included)
        for out in frames():
            if start_s is None:
                start_s = float(out.time) if out.pts is not None else 0.0
            arr = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            if out.pts is not None:
                drift = float(out.time) - (start_s + total / sample_rate)
                if drift > AudioConfig.max_drift_s:  # a gap in the stream: keep time with silence
                    arr = np.concatenate([np.zeros(round(drift * sample_rate), np.float32), arr])
                elif drift < -AudioConfig.max_drift_s:  # overlap: these samples were already given
                    arr = arr[round(-drift * sample_rate) :]
            total += len(arr)
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
