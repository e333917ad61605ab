"""Subtitles as timed text: embedded text streams and sidecar ``.srt`` / ``.vtt`` files.

Design decisions:
- FFmpeg reads both: an embedded stream (mov_text in MP4, subrip/ass/webvtt in MKV) and a
  sidecar file (FFmpeg has SRT and WebVTT demuxers), so there is one parser, FFmpeg's, and
  no hand-written SRT grammar to get wrong.
- Sidecars are the files next to the video with the same stem: ``movie.srt``, ``movie.vtt`` and
  ``movie.<lang>.srt`` / ``movie.<lang>.vtt``. Cues from every source are merged and sorted by
  start time; identical cues (same times and text from two sources) are kept once.
- Bitmap subtitle streams (DVD, PGS) cannot be read as text: they are skipped with a log line
  (on-screen text recognition is the way to read them).
- Styling markup is removed (ASS override tags ``{\\...}``, HTML-like tags, ``\\N`` line breaks).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from longvid.errors import NotAVideoError
from longvid.io.probe import TEXT_SUBTITLE_CODECS, check_path, open_input
from longvid.types import TimedText

logger = logging.getLogger(__name__)

SIDECAR_SUFFIXES = (".srt", ".vtt")
_ASS_TAGS = re.compile(r"\{[^}]*\}")
_HTML_TAGS = re.compile(r"</?[a-zA-Z][^>]*>")


def _clean(text: str) -> str:
    text = _ASS_TAGS.sub("", text).replace("\\N", "\n").replace("\\n", "\n")
    text = _HTML_TAGS.sub("", text)
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _dialogue(rect) -> str:
    """Text of one subtitle rect: ASS dialogue text (FFmpeg converts every text codec to ASS)."""
    for attr in ("dialogue", "text", "ass"):
        value = getattr(rect, attr, None)
        if value:
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            if attr == "ass":  # "ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text"
                text = text.split(",", 8)[-1]
            return text
    return ""


def _read_streams(path: str | os.PathLike) -> list[TimedText]:
    import av

    cues: list[TimedText] = []
    with open_input(path) as container:
        for stream in container.streams.subtitles:
            name = stream.codec_context.name if stream.codec_context else "?"
            if name not in TEXT_SUBTITLE_CODECS:
                logger.info("%s: subtitle stream %d (%s) is a bitmap; skipped", path, stream.index, name)
                continue
            tb = float(stream.time_base)
            try:
                if stream is not container.streams.subtitles[0]:
                    container.seek(0)  # each stream is read in its own pass from the start
                for packet in container.demux(stream):
                    if packet.pts is None or packet.size == 0:
                        continue
                    start = packet.pts * tb
                    # PyAV yields the rects of each decoded subtitle (older versions: the set)
                    rects = [r for item in packet.decode() for r in getattr(item, "rects", [item])]
                    text = _clean("\n".join(_dialogue(r) for r in rects))
                    if text:
                        end = start + (packet.duration * tb if packet.duration else 0.0)
                        cues.append(TimedText(start, end, text, source="subtitle"))
            except av.FFmpegError as exc:
                logger.warning("%s: subtitle stream %d could not be read fully (%s)", path, stream.index, exc)
    return cues


def sidecar_files(path: str | os.PathLike) -> list[Path]:
    """Subtitle files next to ``path``: ``stem.srt``, ``stem.vtt``, ``stem.<lang>.srt``..."""
    p = Path(path)
    found = []
    for cand in sorted(p.parent.glob(glob_escape(p.stem) + ".*")):
        if cand == p or cand.suffix.lower() not in SIDECAR_SUFFIXES:
            continue
        middle = cand.name[len(p.stem) : -len(cand.suffix)]  # "" or ".en"
        if middle == "" or (middle.startswith(".") and "." not in middle[1:] and 0 < len(middle) <= 12):
            found.append(cand)
    return found


def glob_escape(text: str) -> str:
    return re.sub(r"([\[\]*?])", r"[\1]", text)


def read_subtitles(path: str | os.PathLike, *, sidecars: bool = True) -> list[TimedText]:
    """All text subtitle cues for the video at ``path``, sorted by start time."""
    check_path(path)
    cues = _read_streams(path)
    if sidecars:
        for side in sidecar_files(path):
            try:
                cues.extend(_read_streams(side))
            except NotAVideoError as exc:
                logger.warning("sidecar subtitle file %s could not be parsed (%s); skipped", side, exc)
    unique = {(round(c.start_s, 3), round(c.end_s, 3), c.text): c for c in cues}
    return sorted(unique.values(), key=lambda c: (c.start_s, c.end_s))
