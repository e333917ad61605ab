"""Open a video file and describe it: ``probe(path) -> VideoInfo``.

Design decisions:
- PyAV (FFmpeg's libraries in-process) is the one open/demux layer. Everything else in
  ``longvid.io`` goes through :func:`open_input`, so every kind of bad input is turned into the
  same typed errors in one place: missing path or directory -> ``VideoNotFoundError``; empty file
  or not a media container -> ``NotAVideoError``; a file whose header says it *is* a container
  (``ftyp``, EBML, RIFF, Ogg) but cannot be opened -> ``CorruptVideoError`` (typically a
  truncated MP4 whose index was never written); no video stream (audio only, or only a cover
  image) -> ``NoVideoStreamError``; nothing decodable or zero duration -> ``VideoTooShortError``.
- ``probe`` decodes the first frame. It is the only reliable source of the real start time (AAC
  priming makes ffmpeg-written files start at 0.023 s), of the rotation (display matrix attached
  to decoded frames) and of whether the stream decodes at all. Cost: one GOP's first frame.
- Duration comes from the container where it keeps an index or a duration field (MP4/MOV,
  Matroska/WebM, AVI). MPEG-PS/TS and FLV only estimate it (MPEG-PS from the bit rate: 25% short
  on a test file), so there the end is read from the last packets (a seek near the end and a
  short demux, no decoding). Raw elementary streams (``.h264``) carry no timestamps: they are
  demuxed whole once and timed by counting frames.
- Variable frame rate is detected from the container's timing (``avg_frame_rate`` vs the
  stream's base rate), which needs no scan. ``num_keyframes`` comes from the demuxer's index
  when the container keeps a full one (MP4/MOV); otherwise it is left as None.
"""

from __future__ import annotations

import logging
import os
import stat
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from longvid.errors import (
    CorruptVideoError,
    NotAVideoError,
    NoVideoStreamError,
    VideoNotFoundError,
    VideoTooShortError,
)
from longvid.types import AudioStreamInfo, SubtitleStreamInfo, VideoInfo

if TYPE_CHECKING:
    import av

logger = logging.getLogger(__name__)

# Leading bytes that identify a media container: such a file that fails to open is damaged,
# not "some other kind of file". (offset, magic)
_CONTAINER_MAGIC: tuple[tuple[int, bytes], ...] = (
    (4, b"ftyp"),  # MP4 / MOV / 3GP
    (4, b"moov"),
    (4, b"mdat"),
    (4, b"wide"),
    (4, b"free"),
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM (EBML)
    (0, b"RIFF"),  # AVI
    (0, b"OggS"),
    (0, b"FLV"),
    (0, b"\x00\x00\x01\xba"),  # MPEG-PS
    (0, b"\x47"),  # MPEG-TS sync byte (checked with the next packet below)
)

# Text subtitle codecs FFmpeg can decode to text; the rest (dvd_subtitle, hdmv_pgs) are bitmaps.
TEXT_SUBTITLE_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text", "microdvd"})


def _looks_like_container(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(200)
    for off, magic in _CONTAINER_MAGIC:
        if head[off : off + len(magic)] == magic:
            if magic == b"\x47":  # one byte is weak evidence: require the next TS sync too
                return len(head) > 188 and head[188:189] == b"\x47"
            return True
    return False


def check_path(path: str | os.PathLike) -> Path:
    """The path as a Path, or a typed error if it is not a readable, non-empty regular file.

    The kind of path is read from ``lstat``/``stat`` without opening it (opening a named pipe
    blocks until a writer comes; a device never ends), so each kind gets its own message: a
    broken symbolic link, a directory, a named pipe, a character or block device, a socket.
    """
    p = Path(path)
    name = repr(str(p))
    if not p.exists():
        if p.is_symlink():
            target = os.readlink(p)
            raise VideoNotFoundError(
                f"{name} is a symbolic link to {target!r}, which does not exist (a broken link); "
                "point the link at the video again or pass the video's own path"
            )
        raise VideoNotFoundError(f"video not found: {name} does not exist; check the path")
    mode = p.stat().st_mode
    if stat.S_ISDIR(mode):
        raise VideoNotFoundError(f"{name} is a directory, not a video file; pass a file inside it")
    if stat.S_ISFIFO(mode):
        raise NotAVideoError(
            f"{name} is a named pipe (FIFO), not a file: a video must be a regular file, which can be "
            "read more than once and seeked; save the stream to a file first (e.g. ffmpeg -i - -c copy video.mkv)"
        )
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "character" if stat.S_ISCHR(mode) else "block"
        raise NotAVideoError(
            f"{name} is a {kind} device, not a video file; pass a video file (to read a camera or "
            "disc, record or rip it to a file first)"
        )
    if stat.S_ISSOCK(mode):
        raise NotAVideoError(
            f"{name} is a socket, not a video file; save what it serves to a file and pass that"
        )
    if not stat.S_ISREG(mode):
        raise NotAVideoError(f"{name} is not a regular file; pass a video file")
    if not os.access(p, os.R_OK):
        raise VideoNotFoundError(f"{name} is not readable (permissions); fix them or copy the file")
    if p.stat().st_size == 0:
        raise NotAVideoError(f"{name} is an empty file (0 bytes), not a video; re-download or re-export it")
    return p


@contextmanager
def open_input(path: str | os.PathLike) -> Iterator[av.container.InputContainer]:
    """Open ``path`` with PyAV, mapping every failure to a typed error. Closes on exit."""
    import av

    p = check_path(path)
    try:
        container = av.open(str(p), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        if _looks_like_container(p):
            raise CorruptVideoError(
                f"{str(p)!r} looks like a media container but cannot be opened ({exc.strerror or exc}); "
                "it is probably truncated or damaged (an interrupted download or recording): "
                "re-download it, or repair it with a tool such as untrunc"
            ) from exc
        raise NotAVideoError(
            f"{str(p)!r} is not a video file FFmpeg can read ({exc.strerror or exc}); "
            "pass a video such as .mp4, .mkv, .webm, .mov or .avi"
        ) from exc
    try:
        yield container
    finally:
        container.close()


def video_stream(container: av.container.InputContainer, path: str) -> av.video.stream.VideoStream:
    """The main video stream (not a cover image), or NoVideoStreamError."""
    covers = [s for s in container.streams.video if is_attached_picture(s)]
    streams = [s for s in container.streams.video if s not in covers]
    if not streams:
        kinds = sorted({s.type for s in container.streams if s not in covers}) or ["none"]
        cover = " and a cover image" if covers else ""
        raise NoVideoStreamError(
            f"{path!r} has no video stream (streams: {', '.join(kinds)}{cover}); "
            "for audio-only files use longvid.io.read_audio, or pass the matching video file"
        )
    return streams[0]


# PyAV compatibility, feature-detected (not version-compared): longvid runs on the PyAV that
# lmms-eval installs (15.x) as well as on the newest one.
def _flag_value(flag) -> int:
    """A disposition as an int: PyAV 17.1+ makes it an ``IntFlag``; earlier ones a plain ``Flag``
    (``int()`` refuses it, ``.value`` works on both)."""
    return int(getattr(flag, "value", flag))


def is_attached_picture(stream) -> bool:
    """Whether a video stream is a cover image (an "attached picture"), not the video."""
    import av

    return bool(_flag_value(stream.disposition) & _flag_value(av.stream.Disposition.attached_pic))


def index_entries(vs):
    """The demuxer's index of a stream (MP4/MOV list every packet, keyframes marked), or None
    where PyAV does not expose it (``VideoStream.index_entries`` is new in PyAV 17); callers
    then know no more than they would for a container without an index."""
    return getattr(vs, "index_entries", None)


# Containers whose stated duration is an estimate (from the bit rate or a few timestamps) or
# missing: the real end is read from the last packets instead. MP4/MOV, Matroska/WebM and AVI
# carry an index or a duration field and are trusted.
_SCAN_END_FORMATS = frozenset({"mpeg", "mpegts", "mpegvideo", "flv", "h264", "hevc", "m4v"})
_SCAN_BACK_S = 30.0  # how far before the stated end the scan for the last packets starts


def _scan_end_s(path: str, stated_end_s: float, start_s: float) -> tuple[float, int] | None:
    """(end of the last video frame, packets read) from the packets near the end of the file.

    Reads in a container of its own, first from a little before the stated end, then (when that
    finds nothing, or seeking is impossible as in raw streams) from the start. A raw elementary
    stream (``.h264``) has no timestamps at all: its packets' durations are summed instead.
    """
    import av

    for begin in (stated_end_s - _SCAN_BACK_S, None):  # near the end first, then the whole file
        if begin is not None and begin <= 0:
            continue
        end, count, untimed = None, 0, 0
        try:
            with av.open(path, metadata_errors="ignore") as container:
                stream = video_stream(container, path)
                tb = float(stream.time_base)
                if begin is not None:
                    container.seek(int(begin / tb), stream=stream, backward=True)
                for packet in container.demux(stream):
                    count += packet.size > 0
                    if packet.pts is None:
                        untimed += packet.duration or 0
                    else:
                        e = (packet.pts + (packet.duration or 0)) * tb
                        end = e if end is None else max(end, e)
        except av.FFmpegError:
            pass  # a damaged tail or an impossible seek: keep what was read
        if end is not None:
            return end, count
        if begin is None and untimed:
            return start_s + untimed * tb, count
    return None


def _pixel_aspect(stream, frame) -> float:
    """Sample aspect ratio (1.0 for square pixels, the usual case and the fallback)."""
    for sar in (getattr(frame, "sample_aspect_ratio", None), stream.sample_aspect_ratio,
                stream.codec_context.sample_aspect_ratio):
        if sar and sar.numerator > 0 and sar.denominator > 0:
            return float(sar)
    return 1.0


def _rate(value: Fraction | None) -> float:
    return float(value) if value else 0.0


def _audio_info(container: av.container.InputContainer) -> tuple[AudioStreamInfo, ...]:
    out = []
    for s in container.streams.audio:
        cc = s.codec_context
        dur = float(s.duration * s.time_base) if s.duration and s.time_base else None
        out.append(
            AudioStreamInfo(
                index=s.index,
                codec=cc.codec.canonical_name,
                sample_rate=int(cc.sample_rate or 0),
                channels=int(cc.channels or 0),
                language=s.language,
                duration_s=dur,
            )
        )
    return tuple(out)


def _subtitle_info(container: av.container.InputContainer) -> tuple[SubtitleStreamInfo, ...]:
    out = []
    for s in container.streams.subtitles:
        name = s.codec_context.name if s.codec_context else str(s.codec)
        out.append(
            SubtitleStreamInfo(index=s.index, codec=name, language=s.language, is_text=name in TEXT_SUBTITLE_CODECS)
        )
    return tuple(out)


def first_frame(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    path: str,
    seen_pts: list[int] | None = None,
):
    """Decode the first frame of ``stream`` (from the current position), or raise a typed error.

    The pts of the packets read on the way are appended to ``seen_pts`` when given.
    """
    import av

    try:
        for packet in container.demux(stream):
            if seen_pts is not None and packet.pts is not None:
                seen_pts.append(packet.pts)
            for frame in packet.decode():
                return frame
    except av.FFmpegError as exc:
        raise CorruptVideoError(
            f"{path!r}: the video stream cannot be decoded ({exc.strerror or exc}); the file is damaged: "
            "re-download or re-encode it"
        ) from exc
    raise VideoTooShortError(
        f"{path!r}: the video stream has no decodable frame (zero duration); pass a longer video"
    )


_VFR_PACKETS = 240  # packets read after the first frame to look for uneven frame durations
_REORDER_MARGIN = 16  # highest packet times ignored (decode-order reordering depth, generous)
_VFR_TOLERANCE = 0.2  # relative spread of frame durations still counted as constant (ms rounding)


def _uneven_durations(container, stream, pts: list[int]) -> bool:
    """Whether frame durations vary, from the packets after ``pts`` (already read) and those."""
    import av

    try:
        for packet in container.demux(stream):
            if packet.pts is not None:
                pts.append(packet.pts)
            if len(pts) >= _VFR_PACKETS:
                break
    except av.FFmpegError:
        pass  # a damaged tail is reported by the sampler, not here
    # Packets come in decode order: the B-frames shown just before the last packets read are
    # still unread, so the highest few times have gaps that are not in the stream.
    pts = sorted(set(pts))[: -_REORDER_MARGIN] if len(pts) > 2 * _REORDER_MARGIN else sorted(set(pts))
    if len(pts) < 3:
        return False
    deltas = sorted(b - a for a, b in zip(pts, pts[1:]))
    median = deltas[len(deltas) // 2]
    return median > 0 and (deltas[-1] - deltas[0]) / median > _VFR_TOLERANCE


def probe(path: str | os.PathLike) -> VideoInfo:
    """Describe the video at ``path``; raises a typed ``longvid.errors.VideoError`` for bad input."""
    p = check_path(path)
    spath = str(p)
    with open_input(p) as container:
        vs = video_stream(container, spath)
        cc = vs.codec_context
        tb = vs.time_base
        avg = _rate(vs.average_rate)
        base = _rate(vs.base_rate) or _rate(vs.guessed_rate)
        fps = avg or base
        seen_pts: list[int] = []
        first = first_frame(container, vs, spath, seen_pts)
        start_s = float(first.time) if first.pts is not None else 0.0
        rotation = int(round(-(first.rotation or 0))) % 360  # display matrix is counter-clockwise
        if vs.duration and tb:
            end_s = float((vs.start_time or 0) * tb) + float(vs.duration * tb)
        elif container.duration:
            end_s = float((container.start_time or 0) / 1e6) + container.duration / 1e6
        else:
            end_s = start_s
        if container.format.name in _SCAN_END_FORMATS:
            scanned = _scan_end_s(spath, end_s, start_s)
            if scanned:
                end_s = scanned[0]
                if first.pts is None and end_s > start_s:
                    # A raw stream read whole: its guessed rate (25) may not be the coded one.
                    fps = scanned[1] / (end_s - start_s)
        duration_s = max(0.0, end_s - start_s)
        if duration_s <= 0 and fps > 0:
            duration_s = 1.0 / fps  # a single decodable frame lasts one frame
        if duration_s <= 0:
            raise VideoTooShortError(f"{spath!r} has zero duration; pass a longer video")
        # Variable frame rate: the average rate differs from the nominal (base) rate, or frame
        # durations differ among the first packets (MKV/WebM store no rate to compare with).
        is_vfr = first.pts is not None and (  # no timestamps at all (raw stream): a constant rate
            bool(avg and base and abs(avg - base) / base > 0.01) or _uneven_durations(container, vs, seen_pts)
        )
        num_frames = int(vs.frames) if vs.frames else (int(round(duration_s * fps)) if fps else None)
        num_keyframes = None
        if container.format.name.startswith("mov,mp4"):
            entries = index_entries(vs)
            if entries is not None and len(entries):
                num_keyframes = sum(1 for e in entries if e.is_keyframe)
        info = VideoInfo(
            path=spath,
            container=container.format.name,
            codec=cc.codec.canonical_name,  # "av1", not the decoder ("libdav1d")
            width=int(cc.width or first.width),
            height=int(cc.height or first.height),
            rotation=rotation,
            fps=float(fps),
            is_variable_fps=is_vfr,
            duration_s=float(duration_s),
            start_s=start_s,
            num_frames=num_frames,
            num_keyframes=num_keyframes,
            bit_rate=int(container.bit_rate) if container.bit_rate else None,
            audio=_audio_info(container),
            subtitles=_subtitle_info(container),
            size_bytes=p.stat().st_size,
            pixel_aspect=_pixel_aspect(vs, first),
        )
    logger.debug("probed %s: %s", spath, info)
    return info
