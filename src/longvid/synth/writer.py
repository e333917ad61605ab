"""Writing generated videos with PyAV, one frame and one audio chunk at a time.

Design decisions:
- Streaming writer: memory stays bounded whatever the length (frames are encoded as they come).
- H.264 (libx264, ``ultrafast``) in MP4 with a keyframe every ``gop_s`` seconds, so readers
  can seek; mono AAC audio at the rate given (16 kHz suits speech recognition).
- Audio is given as float32 samples in [-1, 1] and encoded in 1024-sample frames.
- ``lossless``: x264 at qp 0 and PCM audio in Matroska, so a frame decodes to the same pixels
  whatever surrounds it (lossy coding makes them depend on their neighbours).
- ``tune="stillimage"`` for slide shows: x264 spends almost nothing on a repeated frame, so an
  hour of slides encodes in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from longvid.errors import InvalidFeaturesError, LongvidError


@dataclass(frozen=True)
class WriterConfig:
    fps: float = 10.0  # output frame rate
    crf: int = 26  # x264 quality (lower = better, bigger)
    preset: str = "ultrafast"  # x264 speed/size trade-off; generated media favours speed
    tune: str | None = None  # x264 tuning, e.g. "stillimage" for slides (None: x264's default)
    gop_s: float = 2.0  # seconds between keyframes
    audio_rate: int | None = 16_000  # None: no audio track
    audio_bitrate: int | None = 48_000  # AAC only (None: the encoder's default)
    # Lossless (x264 qp 0 + 16-bit PCM, needs a .mkv path): the same input frame decodes to the
    # same pixels wherever it sits in any file, so work on it can be reused across files.
    lossless: bool = False


class VideoWriter:
    """``with VideoWriter(path, (w, h), cfg) as w: w.write_frame(rgb); w.write_audio(samples)``."""

    def __init__(
        self, path: str | Path, size: tuple[int, int], config: WriterConfig = WriterConfig()
    ) -> None:
        from fractions import Fraction

        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size = size
        self.config = config
        self._container = av.open(str(self.path), mode="w")
        rate = Fraction(config.fps).limit_denominator(1001)
        self._video = self._container.add_stream("libx264", rate=rate)
        self._video.width, self._video.height = size
        self._video.pix_fmt = "yuv420p"
        self._video.time_base = 1 / rate
        gop = max(1, round(config.fps * config.gop_s))
        quality = {"qp": "0"} if config.lossless else {"crf": str(config.crf)}
        self._video.codec_context.options = {
            **quality,
            "preset": config.preset,
            "g": str(gop),
            "keyint_min": str(gop),
            **({"tune": config.tune} if config.tune else {}),
        }
        self._audio = None
        self._pending = np.zeros(0, np.float32)
        self._audio_pts = 0
        if config.audio_rate:
            self._audio = self._container.add_stream(
                "pcm_s16le" if config.lossless else "aac", rate=config.audio_rate
            )
            self._audio.layout = "mono"
            if not config.lossless and config.audio_bitrate:
                self._audio.bit_rate = config.audio_bitrate
        self._frame_index = 0
        self.frames_written = 0
        self.samples_written = 0

    def write_frame(self, rgb: np.ndarray) -> None:
        import av

        h, w = rgb.shape[:2]
        if (w, h) != self.size or rgb.dtype != np.uint8 or rgb.shape[2:] != (3,):
            raise InvalidFeaturesError(
                f"frame {rgb.dtype} {tuple(rgb.shape)}: this writer takes uint8 RGB frames of {self.size[0]}x{self.size[1]}"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self._frame_index
        self._frame_index += 1
        for packet in self._video.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def write_audio(self, samples: np.ndarray) -> None:
        """Append mono float32 samples in [-1, 1] at ``config.audio_rate``."""
        if self._audio is None:
            raise LongvidError("this writer has no audio track (WriterConfig.audio_rate=None)")
        self._pending = np.concatenate([self._pending, np.asarray(samples, np.float32).reshape(-1)])
        self.samples_written += len(samples)
        self._flush_audio(final=False)

    def _flush_audio(self, *, final: bool) -> None:
        import av

        chunk = self._audio.codec_context.frame_size or 1024
        while len(self._pending) >= chunk or (final and len(self._pending)):
            part, self._pending = self._pending[:chunk], self._pending[chunk:]
            if len(part) < chunk:
                part = np.pad(part, (0, chunk - len(part)))
            data = np.clip(part, -1.0, 1.0).astype(np.float32)[None, :]
            if self.config.lossless:
                data = np.round(data * 32767).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(data, format="s16", layout="mono")
            else:
                frame = av.AudioFrame.from_ndarray(data, format="fltp", layout="mono")
            frame.sample_rate = self.config.audio_rate
            frame.pts = self._audio_pts
            self._audio_pts += chunk
            for packet in self._audio.encode(frame):
                self._container.mux(packet)

    def close(self) -> None:
        if self._container is None:
            return
        if self._audio is not None:
            self._flush_audio(final=True)
            for packet in self._audio.encode(None):
                self._container.mux(packet)
        for packet in self._video.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def resize_rgb(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB uint8 frame to ``size`` (w, h) with area/bilinear filtering."""
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize(size, Image.BILINEAR))
