"""Options of the ``openai`` engine: where the server is, and what it accepts.

Design decisions:
- The server's limits are the binding ones, so they are explicit fields: how many frames one
  request may carry (vLLM's ``--limit-mm-per-prompt``) and how many pixels each may have
  (Qwen2.5-VL's processor resizes to at most ``max_pixels``; sending more only costs bandwidth).
- Two content layouts, both documented by vLLM and SGLang: ``image_url`` (one JPEG data URL per
  frame, each preceded by its time as text; works with every image-capable model) and
  ``video_url`` (the chosen frames as one small MP4 data URL, their times listed in the text;
  for models with a video processor, such as Qwen2.5-VL).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Literal

from longvid.errors import LongvidError

ContentLayout = Literal["image_url", "video_url"]
FrameSelection = Literal["temporal", "uniform"]


class RemoteConfigError(LongvidError, ValueError):
    """An ``openai`` engine option is missing or out of range."""


@dataclass(frozen=True)
class RemoteConfig:
    base_url: str  # the server's OpenAI API root, e.g. http://127.0.0.1:8000/v1
    model: str  # the served model name (``GET /v1/models`` lists them)
    api_key: str | None = None  # None: $OPENAI_API_KEY, else "EMPTY" (what vLLM accepts without --api-key)
    fps: float | None = None  # candidate frames per second of video; None: longvid's sampling default
    max_frames: int = 32  # frames one request may carry (the server's per-prompt limit)
    max_pixels: int = 448 * 448  # per frame, after resizing with the aspect ratio kept
    content: ContentLayout = "image_url"  # how frames travel (see the module docstring)
    selection: FrameSelection = "temporal"  # temporal: drop near-duplicates first; uniform: spread evenly
    jpeg_quality: int = 85  # JPEG quality of image_url frames
    # video_url: seconds each sent frame is shown in the clip. 1 keeps the clip short for servers that
    # sample a clip by its rate (vLLM); longer lets a server that segments by time (longvid serve)
    # tell the frames apart
    clip_frame_s: float = 1.0
    max_tokens: int = 256  # answer length limit sent to the server
    temperature: float = 0.0  # greedy by default, so answers are reproducible
    timeout_s: float = 300.0  # one request, including the server's prefill of every frame

    def __post_init__(self) -> None:
        if not self.base_url or not self.base_url.startswith(("http://", "https://")):
            raise RemoteConfigError(f"base_url={self.base_url!r}: give the server's API root, e.g. "
                                    "--base-url http://127.0.0.1:8000/v1")
        if not self.model:
            raise RemoteConfigError("model is empty: give the served model's name (the server's GET /v1/models)")
        if not (isinstance(self.max_frames, int) and 1 <= self.max_frames <= 4096):
            raise RemoteConfigError(f"max_frames={self.max_frames!r}: use an integer 1..4096")
        if not (isinstance(self.max_pixels, int) and 28 * 28 <= self.max_pixels <= 8192 * 8192):
            raise RemoteConfigError(f"max_pixels={self.max_pixels!r}: use an integer from {28 * 28} to {8192 * 8192}")
        if self.content not in ("image_url", "video_url"):
            raise RemoteConfigError(f"content={self.content!r}: use 'image_url' or 'video_url'")
        if self.selection not in ("temporal", "uniform"):
            raise RemoteConfigError(f"selection={self.selection!r}: use 'temporal' or 'uniform'")
        if not (math.isfinite(self.clip_frame_s) and 1.0 <= self.clip_frame_s <= 60.0):
            raise RemoteConfigError(f"clip_frame_s={self.clip_frame_s!r}: use 1 to 60 seconds per frame")
        if not 1 <= self.jpeg_quality <= 100:
            raise RemoteConfigError(f"jpeg_quality={self.jpeg_quality!r}: use 1..100")
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise RemoteConfigError(f"timeout_s={self.timeout_s!r} must be a positive number of seconds")

    def resolved_api_key(self) -> str:
        return self.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
