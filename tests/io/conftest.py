"""Fixtures shared by the io tests: one short clip per container/codec pair this FFmpeg can write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from longvid.synth.testvideo import has_encoder

# (suffix, encoder, decoded codec name) for every container/codec pair the tests cover
_CODECS = [
    (".mp4", "libx264", "h264"),
    (".mov", "libx264", "h264"),
    (".mkv", "libx265", "hevc"),
    (".webm", "libvpx-vp9", "vp9"),
    (".webm", "libvpx", "vp8"),
    (".avi", "mpeg4", "mpeg4"),
    (".mkv", "libsvtav1", "av1"),
    (".ts", "libx264", "h264"),  # MPEG-TS: starts at 0.2 s, duration read from the last packets
    (".mpg", "mpeg2video", "mpeg2video"),  # MPEG-PS: the stated duration is an estimate
    (".flv", "libx264", "h264"),
    (".h264", "libx264", "h264"),  # raw stream: no container, no timestamps, cannot seek
]


@dataclass(frozen=True)
class CodecClip:
    """A 2 s, 10 fps, 128x96 clip in one container/codec pair."""

    path: Path
    suffix: str  # container, as a file suffix
    encoder: str  # FFmpeg encoder that wrote it
    codec: str  # codec name probe() should report


@pytest.fixture(params=_CODECS, ids=[f"{s[1:]}-{e}" for s, e, _ in _CODECS])
def codec_clip(request, media) -> CodecClip:
    """One clip per container/codec pair (skipped where this FFmpeg build lacks the encoder)."""
    suffix, encoder, codec = request.param
    if not has_encoder(encoder):
        pytest.skip(f"this FFmpeg build has no {encoder} encoder")
    path = media(f"codec_{encoder}{suffix}", duration_s=2.0, fps=10, codec=encoder)
    return CodecClip(path, suffix, encoder, codec)
