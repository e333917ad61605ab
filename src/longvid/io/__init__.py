"""Video ingest: open a video, sample frames with exact timestamps, read audio and subtitles.

Public API::

    info = probe(path)                                   # VideoInfo, or a typed VideoError
    for batch in sample_frames(path, SamplingConfig(size=384)):  # FrameBatch stream, DEFAULT_FPS
        ...
    clip = read_audio(path)                              # 16 kHz mono float32 AudioClip
    for clip in iter_audio(path, chunk_s=30.0): ...      # the same, streamed
    cues = read_subtitles(path)                          # embedded text streams + sidecar files
    thumbs = thumbnail(frames)                           # (..., H, W, 3) uint8 -> (..., 36, 64) float32 grey
    is_cut(prev_thumb, thumb, SceneConfig(threshold=12.0))  # the one thumbnail cut detector

``DEFAULT_FPS`` (1.0) is the one default sampling rate; other stages import it. The methods, the
defaults and where they come from are described in docs/io.md.

Decoders are pluggable through ``DECODERS`` (entry-point group ``longvid.decoders``). PyAV is the
default backend; see ``longvid.io.decoders`` for why, and ``bench/decode.py`` for the numbers.
Importing this package imports neither PyAV nor numpy; they load on first use.
"""

from longvid.io.audio import AudioConfig, NoAudioStreamError, iter_audio, read_audio
from longvid.io.decoders import DECODERS, Decoder
from longvid.io.probe import probe
from longvid.io.sampling import DEFAULT_FPS, SamplingConfig, plan_targets, sample_frames
from longvid.io.scenes import (
    SceneConfig,
    SceneTracker,
    is_cut,
    scene_changes,
    thumbnail,
    thumbnail_difference,
)
from longvid.io.subtitles import read_subtitles

__all__ = [
    "DECODERS",
    "DEFAULT_FPS",
    "AudioConfig",
    "NoAudioStreamError",
    "Decoder",
    "SamplingConfig",
    "SceneConfig",
    "SceneTracker",
    "is_cut",
    "iter_audio",
    "plan_targets",
    "probe",
    "read_audio",
    "read_subtitles",
    "sample_frames",
    "scene_changes",
    "thumbnail",
    "thumbnail_difference",
]
