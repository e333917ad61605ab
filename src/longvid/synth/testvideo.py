"""Small test videos made on the fly with PyAV: videos whose frames say which frame they are.

Every generated frame carries its own index as a 16-bit code in two rows of eight black/white
blocks across the top of the picture (block centres survive any codec at any sane quality), so a
test can decode a sampled frame back to the frame number and check timestamps exactly. Below the
code: a scene colour, burned-in text (PIL) and a square moving with time. Audio is a sine tone;
subtitles are an embedded text stream (mov_text in MP4/MOV, subrip in MKV, webvtt in WebM).

Design decisions:
- Files are tiny (seconds long, low fps, small size): a test suite makes them in milliseconds
  (tests/conftest.py caches them per session).
- Everything a container test needs comes from one call: any codec, pixel format, GOP,
  variable frame times, rotation metadata, non-square pixels, a tone, embedded text subtitles;
  the container follows the file suffix. ``make_audio_only`` and ``write_srt``/``write_vtt``
  cover audio-only files and sidecar subtitles.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

CODE_BITS = 16
CODE_ROWS = 2
CODE_HEIGHT_FRAC = 0.25  # top quarter of the frame holds the code


def has_encoder(name: str) -> bool:
    """Whether this FFmpeg build can encode with ``name`` (e.g. "libsvtav1")."""
    import av

    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:  # PyAV raises its own error types for unknown codecs
        return False


def draw_code(img: np.ndarray, index: int) -> None:
    """Write ``index`` into the top band of ``img`` (H, W, 3) as black/white blocks, in place."""
    h, w = img.shape[:2]
    per_row = CODE_BITS // CODE_ROWS
    band = int(h * CODE_HEIGHT_FRAC)
    bh, bw = band // CODE_ROWS, w // per_row
    for bit in range(CODE_BITS):
        r, c = divmod(bit, per_row)
        img[r * bh : (r + 1) * bh, c * bw : (c + 1) * bw] = 255 if (index >> bit) & 1 else 0


def read_code(img: np.ndarray) -> int:
    """The index :func:`draw_code` wrote into ``img`` (same orientation and aspect)."""
    h, w = img.shape[:2]
    per_row = CODE_BITS // CODE_ROWS
    band = int(h * CODE_HEIGHT_FRAC)
    bh, bw = band // CODE_ROWS, w // per_row
    value = 0
    for bit in range(CODE_BITS):
        r, c = divmod(bit, per_row)
        y0, x0 = r * bh + bh // 4, c * bw + bw // 4
        block = img[y0 : y0 + max(1, bh // 2), x0 : x0 + max(1, bw // 2)]
        if block.mean() > 127:
            value |= 1 << bit
    return value


def render_frame(
    index: int, t: float, size: tuple[int, int], colour: Sequence[int], text: str | None
) -> np.ndarray:
    """Frame ``index`` at ``t`` seconds: scene colour, moving square, optional text, the index code."""
    from PIL import Image, ImageDraw

    w, h = size
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[:] = colour
    band = int(h * CODE_HEIGHT_FRAC)
    side = max(4, h // 6)
    x = int((t * 0.25 % 1.0) * (w - side))  # a square crossing the frame every 4 s
    img[band + side // 2 : band + side // 2 + side, x : x + side] = (255, 255, 0)
    if text:
        pil = Image.fromarray(img)
        ImageDraw.Draw(pil).text((4, h - max(12, h // 5)), text, fill=(255, 255, 255), font_size=max(10, h // 8))
        img = np.asarray(pil).copy()
    draw_code(img, index)
    return img


_CONTAINER_DEFAULTS = {  # suffix -> (audio codec, subtitle codec)
    ".mp4": ("aac", "mov_text"),
    ".mov": ("aac", "mov_text"),
    ".mkv": ("aac", "subrip"),
    ".webm": ("libopus", "webvtt"),
    ".avi": ("mp3", None),
}


def make_video(
    path: str | Path,
    *,
    duration_s: float = 2.0,
    fps: float = 10,
    size: tuple[int, int] = (128, 96),
    codec: str = "libx264",
    scenes: Sequence[tuple[float, Sequence[int], str | None]] = ((0.0, (40, 90, 160), None),),
    audio: str | None = None,
    subtitles: Sequence[tuple[float, float, str]] = (),
    rotation: int | None = None,
    pix_fmt: str | None = None,
    gop: int | None = None,
    frame_times: Sequence[float] | None = None,
    options: dict[str, str] | None = None,
    pixel_aspect: Fraction | None = None,
    subtitle_codec: str | None = None,
) -> Path:
    """Write a test video; returns its path. The container follows the suffix.

    ``scenes``: (start_s, RGB colour, burned-in text or None), sorted by start.
    ``frame_times``: explicit (variable-rate) frame times in seconds; default ``k / fps``.
    ``rotation``: degrees clockwise a player turns the picture to show it upright.
    ``pixel_aspect``: non-square pixels (anamorphic), e.g. ``Fraction(2, 1)``.
    ``subtitle_codec``: instead of the container's usual text codec (e.g. ``"ass"`` in MKV).
    """
    import av

    path = Path(path)
    audio_codec, sub_codec = _CONTAINER_DEFAULTS.get(path.suffix.lower(), ("aac", None))
    sub_codec = subtitle_codec or sub_codec
    times = list(frame_times) if frame_times is not None else [k / fps for k in range(int(round(duration_s * fps)))]
    # one tick per frame for a whole-number rate; 1 ms ticks for explicit (variable) times
    tb = Fraction(1, int(fps)) if frame_times is None and float(fps).is_integer() else Fraction(1, 1000)
    out = av.open(str(path), "w")
    vs = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
    vs.width, vs.height = size
    vs.pix_fmt = pix_fmt or ("yuv420p" if codec not in ("mjpeg",) else "yuvj420p")
    vs.time_base = tb
    vs.codec_context.time_base = tb
    # superfast keeps B-frames (non-reference frames), as real files have; ultrafast drops them
    opts = {"preset": "superfast"} if codec in ("libx264", "libx265") else {}
    if codec == "libx265":
        opts["x265-params"] = "log-level=error"
    if codec == "libsvtav1":
        opts = {"preset": "12", "svtav1-params": "log-level=0"}
    if gop:
        vs.codec_context.gop_size = gop
    vs.options = {**opts, **(options or {})}
    if pixel_aspect:
        vs.codec_context.sample_aspect_ratio = Fraction(pixel_aspect)
    if rotation:
        if not hasattr(vs, "set_display_rotation"):  # new in PyAV 17
            from longvid.errors import MissingDependencyError

            raise MissingDependencyError("writing rotation metadata needs PyAV 17 or newer")
        vs.set_display_rotation(-rotation)  # the display matrix angle is counter-clockwise
    aus = None
    if audio:
        aus = out.add_stream(audio_codec, rate=48000 if audio_codec == "libopus" else 16000)
        aus.layout = "mono"
    ss = None
    sub_packets = []
    if subtitles:
        if sub_codec is None:
            raise ValueError(f"{path.suffix} cannot hold a text subtitle stream here: use .mp4, .mov, .mkv or .webm")
        ss = out.add_stream(sub_codec)
        # Encode subtitles before anything is muxed: the subtitle encoder gets its (ASS) header
        # on its first encode, and muxing opens every stream's encoder.
        sub_packets = _encode_subtitles(ss, subtitles)
    try:
        scene_list = sorted(scenes, key=lambda s: s[0])
        for k, t in enumerate(times):
            colour, text = next(((c, tx) for st, c, tx in reversed(scene_list) if t >= st), scene_list[0][1:])
            frame = av.VideoFrame.from_ndarray(render_frame(k, t, size, colour, text), format="rgb24")
            frame.pts = int(round(t / tb))
            frame.time_base = tb
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        total = times[-1] + 1.0 / fps if times else duration_s
        if aus is not None:
            _write_tone(out, aus, total)
        for packet in sub_packets:
            out.mux(packet)
    finally:
        out.close()
    return path


def _write_tone(out, aus, duration_s: float, freq: float = 440.0) -> None:
    import av

    rate = aus.codec_context.sample_rate
    n = int(duration_s * rate)
    t = np.arange(n) / rate
    samples = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    chunk = aus.codec_context.frame_size or 1024
    fmt = aus.codec_context.format.name
    for off in range(0, n, chunk):
        part = samples[off : off + chunk]
        frame = av.AudioFrame.from_ndarray(part[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = off
        if fmt != "flt":
            frame = av.AudioResampler(format=fmt, layout="mono", rate=rate).resample(frame)[0]
            frame.pts = off
        for packet in aus.encode(frame):
            out.mux(packet)
    for packet in aus.encode():
        out.mux(packet)


# A minimal ASS header: text subtitle encoders parse styles from it.
_ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n"
    b"[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
    b"BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, "
    b"Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n"
    b"[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
)


def _encode_subtitles(ss, cues: Sequence[tuple[float, float, str]]) -> list:
    from av.subtitles.subtitle import SubtitleSet

    if not hasattr(ss.codec_context, "encode_subtitle"):  # subtitle encoding is new in PyAV 17
        from longvid.errors import MissingDependencyError

        raise MissingDependencyError("writing subtitles needs a PyAV with subtitle encoding (17 or newer)")
    tb = ss.time_base or Fraction(1, 1000)
    ss.time_base = tb
    ss.codec_context.subtitle_header = _ASS_HEADER
    packets = []
    for start, end, text in cues:
        pts = int(round(start / tb))
        dur = int(round((end - start) / tb))
        sub = SubtitleSet.create(f"0,0,Default,,0,0,0,,{text}".encode(), 0, dur, pts)
        packet = ss.codec_context.encode_subtitle(sub)
        packet.stream = ss
        packet.pts = packet.dts = pts
        packet.duration = dur
        packets.append(packet)
    return packets


def make_audio_only(path: str | Path, duration_s: float = 1.0, *, cover: bool = False) -> Path:
    """An audio-only file (tone), e.g. ``.m4a`` or ``.mka``; ``cover`` adds a cover image stream
    (a video stream marked as an attached picture, as music and podcast files have)."""
    import av

    path = Path(path)
    out = av.open(str(path), "w")
    aus = out.add_stream("aac", rate=16000)
    aus.layout = "mono"
    try:
        if cover:
            pic = out.add_stream("mjpeg", rate=1)
            pic.width, pic.height, pic.pix_fmt = 64, 64, "yuvj420p"
            flag = av.stream.Disposition.attached_pic  # an IntFlag from PyAV 17.1, a Flag before
            pic.disposition = flag if isinstance(flag, int) else flag.value
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 200, np.uint8), format="rgb24")
            frame.pts = 0
            for packet in [*pic.encode(frame), *pic.encode()]:
                out.mux(packet)
        _write_tone(out, aus, duration_s)
    finally:
        out.close()
    return path


def write_srt(path: str | Path, cues: Sequence[tuple[float, float, str]]) -> Path:
    """A SubRip sidecar file with ``(start_s, end_s, text)`` cues."""
    def ts(s: float) -> str:
        ms = int(round(s * 1000))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    body = "\n".join(f"{i}\n{ts(a)} --> {ts(b)}\n{t}\n" for i, (a, b, t) in enumerate(cues, 1))
    Path(path).write_text(body, encoding="utf-8")
    return Path(path)


def write_vtt(path: str | Path, cues: Sequence[tuple[float, float, str]]) -> Path:
    """A WebVTT sidecar file with ``(start_s, end_s, text)`` cues."""
    def ts(s: float) -> str:
        ms = int(round(s * 1000))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"

    body = "WEBVTT\n\n" + "\n".join(f"{ts(a)} --> {ts(b)}\n{t}\n" for a, b, t in cues)
    Path(path).write_text(body, encoding="utf-8")
    return Path(path)
