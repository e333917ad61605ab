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
- Sidecar files come in whatever encoding their author's editor used; FFmpeg's SRT/WebVTT
  demuxers take UTF-8 only (a Latin-1 file fails with "Invalid data"). So a sidecar is read as
  bytes, its encoding found (:func:`detect_encoding`), and the text handed to FFmpeg as UTF-8
  from memory: still one parser. Detection: a BOM names UTF-8/UTF-16/UTF-32 exactly; bytes that
  decode as strict UTF-8 are UTF-8 (legacy 8-bit text with accents almost never does); anything
  else goes to charset-normalizer, run on the cue text only (timecodes carry no signal). On a
  short file it cannot tell Windows-1252 from its Central European and Baltic siblings (same
  chaos, same coherence), and a wrong pick turns "à" into "ŕ"; among the candidates tied with
  its best, Windows-1252 (the common legacy encoding of subtitle files, a superset of Latin-1's
  printable characters), then Latin-1, is preferred. ``read_subtitles(..., encoding=)``
  overrides detection for a file it gets wrong.
"""

from __future__ import annotations

import codecs
import hashlib
import io
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
        try:
            value = getattr(rect, attr, None)
        except ValueError:  # PyAV < 16 fails on non-ASCII dialogue; the raw "ass" line still has it
            continue
        if value:
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            if attr == "ass":  # "ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text"
                text = text.split(",", 8)[-1]
            return text
    return ""


# byte-order marks, longest first (the UTF-32 LE mark starts with the UTF-16 LE one)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# preferred among detector candidates that score the same (see the module docstring)
_PREFERRED_LEGACY = ("cp1252", "latin_1", "iso8859_15")
_TIE = 0.01  # chaos / coherence differences below this are a tie
_FORMATS = {".srt": "srt", ".vtt": "webvtt"}


def detect_encoding(data: bytes) -> str:
    """The text encoding of a subtitle file's bytes (a Python codec name)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    import charset_normalizer

    text_lines = [ln for ln in data.splitlines() if ln.strip() and b"-->" not in ln and not ln.strip().isdigit()]
    matches = list(charset_normalizer.from_bytes(b"\n".join(text_lines) or data))
    if not matches:
        logger.warning("subtitle text encoding not recognised; read as Windows-1252")
        return "cp1252"
    best = matches[0]
    tied = [m.encoding for m in matches
            if m.chaos - best.chaos < _TIE and best.coherence - m.coherence < _TIE]
    for name in _PREFERRED_LEGACY:
        if name in tied and _decodes(data, name):
            return name
    return best.encoding


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def decode_text(data: bytes, encoding: str | None = None) -> str:
    """``data`` as text: in ``encoding``, else the detected one; a BOM is never part of the text."""
    enc = encoding or detect_encoding(data)
    text = data.decode(enc, errors="replace")
    return text[1:] if text.startswith("\ufeff") else text


def _read_sidecar(path: Path, encoding: str | None) -> list[TimedText]:
    """Cues of a sidecar file in any encoding, parsed by FFmpeg from UTF-8 in memory."""
    import av

    data = path.read_bytes()
    enc = encoding or detect_encoding(data)
    logger.debug("%s: read as %s", path, enc)
    utf8 = decode_text(data, enc).encode("utf-8")
    fmt = _FORMATS.get(path.suffix.lower())
    try:
        container = av.open(io.BytesIO(utf8), mode="r", format=fmt, metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise NotAVideoError(f"{str(path)!r} is not a subtitle file FFmpeg can read ({exc.strerror or exc})") from exc
    with container:
        cues = _cues(container, str(path))
    if not cues and utf8.strip():
        logger.warning("sidecar subtitle file %s (read as %s) holds no cue FFmpeg could parse; skipped", path, enc)
    return cues


def _read_streams(path: str | os.PathLike) -> list[TimedText]:
    with open_input(path) as container:
        return _cues(container, str(path))


def _cues(container, path: str) -> list[TimedText]:
    import av

    cues: list[TimedText] = []
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


def sidecar_fingerprint(path: str | os.PathLike) -> str:
    """A hash of the names and bytes of the sidecar subtitle files of ``path`` ("" when none).

    Part of an index key: adding, removing, renaming or editing a sidecar changes it."""
    files = sidecar_files(path)
    if not files:
        return ""
    h = hashlib.blake2b(digest_size=8)
    for f in files:
        try:
            data = f.read_bytes()
        except OSError:  # unreadable: skipped by read_subtitles, and readable later is a change
            data = b"\0unreadable"
        h.update(f.name.encode() + b"\0" + data + b"\0")
    return h.hexdigest()


def read_subtitles(
    path: str | os.PathLike, *, sidecars: bool = True, encoding: str | None = None
) -> list[TimedText]:
    """All text subtitle cues for the video at ``path``, sorted by start time.

    ``encoding``: the text encoding of the sidecar files (a Python codec name); detected when
    None."""
    check_path(path)
    cues = _read_streams(path)
    if sidecars:
        for side in sidecar_files(path):
            try:
                cues.extend(_read_sidecar(side, encoding))
            except (NotAVideoError, OSError) as exc:
                logger.warning("sidecar subtitle file %s could not be parsed (%s); skipped", side, exc)
    unique = {(round(c.start_s, 3), round(c.end_s, 3), c.text): c for c in cues}
    return sorted(unique.values(), key=lambda c: (c.start_s, c.end_s))
