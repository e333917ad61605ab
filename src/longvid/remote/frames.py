"""Which frames to send to a video-LLM server, and how they travel.

Design decisions:
- One decode pass at the sampling rate (exact timestamps from ``longvid.io``). With
  ``selection="temporal"``, frames go through longvid's pre-filter (LongVU's windowed similarity
  rule on pixel thumbnails), so a static shot costs one frame, not sixty; then the server's frame
  limit picks evenly among the survivors. ``"uniform"`` asks the sampler for exactly
  ``max_frames`` frames spread over the video, as the servers themselves do.
- Bounded memory, however long the video: survivors are held as JPEGs at the size they will be
  sent, and never more than ``4 * max_frames`` of them. When that many are held, every other one
  is dropped and only every other later survivor is taken (the stride doubles), so what is held
  stays spread evenly over the video seen so far.
- Frames are resized once, keeping the aspect ratio, to at most ``max_pixels`` (the server would
  resize larger frames itself; sending them only costs bandwidth and memory).
"""

from __future__ import annotations

import base64
import io
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from longvid.remote.config import RemoteConfig
from longvid.types import FrameBatch, VideoInfo, format_timestamp

logger = logging.getLogger(__name__)

HOLD_FACTOR = 4  # survivors held at most: HOLD_FACTOR * max_frames (then thinned by half)
CLIP_FPS = 1  # frame rate of the clip sent as video_url content: sent frame k is at second k


@dataclass(frozen=True)
class SentFrame:
    """One frame as it is sent: where it is in the video, and the encoded picture."""

    time_s: float  # the frame's own presentation time
    index: int  # position in the sampled sequence (longvid.io's FrameBatch.indices)
    width: int
    height: int
    jpeg: bytes

    def label(self) -> str:
        return f"[{format_timestamp(self.time_s)}]"

    def data_url(self) -> str:
        return "data:image/jpeg;base64," + base64.b64encode(self.jpeg).decode("ascii")


def fit_pixels(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """``(w, h)`` scaled down (never up) to at most ``max_pixels``, aspect kept, even sides."""
    scale = min(1.0, math.sqrt(max_pixels / float(width * height)))
    w = max(2, int(width * scale) // 2 * 2)
    h = max(2, int(height * scale) // 2 * 2)
    return w, h


def encode_jpeg(frame: np.ndarray, size: tuple[int, int], quality: int) -> bytes:
    from PIL import Image

    img = Image.fromarray(frame)
    if img.size != size:
        img = img.resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class _Held:
    """Survivors held at send size, thinned by half whenever ``limit`` are held."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.frames: list[SentFrame] = []
        self.stride = 1
        self.seen = 0

    def offer(self) -> bool:
        """Whether the next survivor is taken (every ``stride``-th one is)."""
        take = self.seen % self.stride == 0
        self.seen += 1
        return take

    def add(self, frame: SentFrame) -> None:
        self.frames.append(frame)
        if len(self.frames) >= self.limit:
            self.frames = self.frames[::2]
            self.stride *= 2


def select_frames(video: str, config: RemoteConfig, *, info: VideoInfo | None = None,
                  progress=None) -> tuple[SentFrame, ...]:
    """The frames to send for ``video``, in time order, at most ``config.max_frames``."""
    from longvid.compress.base import uniform_positions
    from longvid.compress.prefilter import prefilter_frames
    from longvid.io.probe import probe
    from longvid.io.sampling import DEFAULT_FPS, SamplingConfig, capped_rate, sample_frames

    info = info or probe(video)
    size = fit_pixels(*info.display_size, config.max_pixels)
    # the default rate bends to a slow video; a rate the caller chose is checked as given
    rate = config.fps if config.fps is not None else capped_rate(info, DEFAULT_FPS)
    if config.selection == "uniform":
        scfg = SamplingConfig(num_frames=config.max_frames, resize="none")
    else:
        scfg = SamplingConfig(fps=rate, resize="none")
    batches: Iterable[FrameBatch] = sample_frames(video, scfg, progress, info=info)
    if config.selection == "temporal":
        batches = prefilter_frames(batches)
    held = _Held(HOLD_FACTOR * config.max_frames)
    for batch in batches:
        for frame, t, idx in zip(batch.frames, batch.timestamps_s, batch.indices):
            if held.offer():
                held.add(SentFrame(float(t), int(idx), size[0], size[1],
                                   encode_jpeg(frame, size, config.jpeg_quality)))
    frames = held.frames
    if not frames:
        from longvid.errors import VideoTooShortError

        raise VideoTooShortError(f"{video}: sampling gave no frames to send")
    if len(frames) > config.max_frames:
        frames = [frames[i] for i in uniform_positions(len(frames), config.max_frames).tolist()]
    logger.info("sending %d frames of %dx%d (%s selection, %d survivors seen)", len(frames), size[0], size[1],
                config.selection, held.seen)
    return tuple(frames)


def frames_to_mp4(frames: Sequence[SentFrame], *, frame_s: float = 1.0) -> bytes:
    """The frames as one small H.264 MP4 (for ``video_url`` content): sent frame k is shown from
    ``k * frame_s`` to ``(k + 1) * frame_s`` seconds.

    A constant-rate clip rather than the original timestamps: the frames chosen from an hour are
    minutes apart, and servers sample a clip by its frame rate. The original times travel as text
    (see ``longvid.remote.request``); a server that reports moments on the clip's own clock
    (``longvid serve`` does) is mapped back with :func:`frames_in_clip_span`. A frame shown for
    longer than a second is repeated at ``CLIP_FPS`` (repeats cost H.264 almost nothing), so the
    clip stays a plain 1 fps video.
    """
    import av
    from PIL import Image

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=CLIP_FPS)
        stream.width, stream.height = frames[0].width, frames[0].height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        repeats = max(1, round(frame_s * CLIP_FPS))
        for f in frames:
            rgb = np.asarray(Image.open(io.BytesIO(f.jpeg)).convert("RGB"))
            for _ in range(repeats):
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def frames_in_clip_span(frames: Sequence[SentFrame], start_s: float, end_s: float, *,
                        frame_s: float = 1.0) -> list[SentFrame]:
    """The sent frames shown during ``[start_s, end_s)`` of the clip :func:`frames_to_mp4` made
    (a span inside one frame's showing gives that frame)."""
    step = max(1, round(frame_s * CLIP_FPS)) / CLIP_FPS
    first = max(0, int(start_s / step + 1e-6))
    last = min(len(frames) - 1, max(first, math.ceil(end_s / step - 1e-6) - 1))
    return list(frames[first:last + 1])
