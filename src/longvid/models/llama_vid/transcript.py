"""Timed text placed after each frame's tokens: the video's subtitles, or what is said in it.

Design decisions:
- One option, :data:`Transcript`: ``"subtitles"`` (embedded subtitle streams and ``.srt``/``.vtt``
  sidecars, read by ``longvid.io.subtitles``), ``"speech"`` (the audio track through longvid's
  speech recogniser, ``longvid.offline.speech``: Whisper tiny.en, the offline engine's default),
  ``"auto"`` (subtitles when the video has any, else its speech) and ``"none"`` (visual tokens
  only). The default, ``"auto"``, is the long-video recipe: subtitles as the original uses them,
  speech where a video has none.
- Speech needs the ``offline`` extra. When speech is wanted and the recogniser cannot be built,
  that is an error naming the extra and the two opt-outs (``"subtitles"``, ``"none"``); it is
  never skipped silently. A video without an audio stream has no speech: an empty transcript,
  not an error.
- Transcripts are cached beside the frame features (the same :class:`FeatureCache` folder),
  keyed by the file's bytes, the recogniser and its chunking, so a second question on a video
  does not transcribe it again.
- The rule that places text: every cue goes after the last sampled frame at or before its start
  (cues before the first frame go to the first), so a frame is followed by what is said while it
  is the latest one seen.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import Literal, get_args

from longvid.errors import LongvidError, MissingDependencyError, ModelLoadError
from longvid.types import TimedText

logger = logging.getLogger(__name__)

Transcript = Literal["subtitles", "speech", "auto", "none"]
TRANSCRIPTS: tuple[str, ...] = get_args(Transcript)
DEFAULT_TRANSCRIPT: Transcript = "auto"


def check_transcript(mode: str) -> Transcript:
    if mode not in TRANSCRIPTS:
        raise ValueError(f"transcript={mode!r}: choose one of {', '.join(map(repr, TRANSCRIPTS))}")
    return mode  # type: ignore[return-value]


def read_subtitle_cues(video: str) -> list[TimedText]:
    from longvid.io.subtitles import read_subtitles

    try:
        return list(read_subtitles(video))
    except (LongvidError, OSError) as exc:  # subtitles are optional: a video without any still answers
        logger.info("no subtitles read from %s: %s", video, exc)
        return []


@functools.lru_cache(maxsize=2)
def speech_recogniser(name: str):
    """The registered recogniser ``name``, built once per process (Whisper takes a second to load)."""
    from longvid.offline.speech import create_speech_engine

    return create_speech_engine(name)


def speech_settings() -> tuple[str, float]:
    """(recogniser, chunk seconds): the offline index's defaults, so both engines hear the same text."""
    from longvid.offline.config import IndexSettings

    return IndexSettings.speech, IndexSettings.speech_chunk_s


def transcribe(video: str, *, cache=None, why: str = "transcript='speech'") -> list[TimedText]:
    """The speech of ``video`` as timed text (empty for a video without audio), cached in ``cache``."""
    from longvid.io import iter_audio
    from longvid.io.probe import probe

    if not probe(video).has_audio:
        logger.info("%s has no audio stream: no speech to transcribe", video)
        return []
    name, chunk_s = speech_settings()
    key = cache.key(video, {"speech": name, "chunk_s": chunk_s}, "transcript") if cache is not None \
        and cache.folder is not None else ""
    if key:
        hit = cache.get_texts(key)
        if hit is not None:
            return hit
    try:
        rec = speech_recogniser(name)
    except (MissingDependencyError, ModelLoadError) as exc:
        raise type(exc)(f"{exc} -- LLaMA-VID ({why}) transcribes the speech of {video}; install the extra, "
                        "or pass transcript='subtitles' (subtitles only) or transcript='none'") from exc
    items: list[TimedText] = []
    for _until, segs in rec.transcribe(iter_audio(video, chunk_s=chunk_s)):
        items.extend(segs)
    logger.info("%s: %d speech segments transcribed (%s)", video, len(items), name)
    if key:
        cache.put_texts(key, items)
    return items


def read_cues(video: str, mode: Transcript, *, cache=None) -> tuple[list[TimedText], str]:
    """The cues to interleave and where they came from (``"subtitles"``, ``"speech"`` or ``"none"``)."""
    mode = check_transcript(mode)
    if mode == "none":
        return [], "none"
    if mode in ("subtitles", "auto"):
        subs = read_subtitle_cues(video)
        if subs or mode == "subtitles":
            return subs, "subtitles"
    why = "transcript='auto', the video has no subtitles" if mode == "auto" else "transcript='speech'"
    return transcribe(video, cache=cache, why=why), "speech"


def assign_to_frames(cues: Iterable[TimedText], frames: Iterable[tuple[float, int]]) -> dict[int, str]:
    """``{frame index: text}``: each cue after the last frame at or before its start (the first
    frame takes earlier cues); ``frames`` are ``(time, index)`` pairs."""
    order = sorted(set(frames))
    if not order:
        return {}
    out: dict[int, list[str]] = {}
    for cue in sorted(cues, key=lambda c: c.start_s):
        owner = order[0][1]
        for t, f in order:
            if t <= cue.start_s + 1e-6:
                owner = f
            else:
                break
        text = cue.text.replace("\n", " ").strip()
        if text:
            out.setdefault(owner, []).append(text)
    return {f: " ".join(v) for f, v in out.items()}
