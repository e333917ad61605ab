"""Long talk-like videos with known content: slides, real footage and speech, placed by time.

Design decisions:
- A video is a list of timed parts: ``Slide`` (a still image with burned-in text, drawn with
  Pillow), ``Clip`` (a real video, e.g. a packaged sample clip, looped over its span) and
  ``Speech`` (a phrase synthesised by espeak-ng, placed on the audio track at a known time).
  Everything is written in one streaming pass (``writer.VideoWriter``: H.264 + AAC), so an
  hour-long video costs little memory.
- Low frame rate (default 2 fps) and still images make long videos quick to encode
  (``tune="stillimage"``: a repeated frame costs x264 almost nothing).
- ``haystack_parts`` lays out a talk of any length around ``TimedNeedle``s (a text needle is a
  slide of its own, a spoken one a phrase): filler slides, packaged clips and filler phrases
  fill the rest and never overlap a needle's span, so each needle is found at its time only.
- Asking for speech without espeak-ng raises ``MissingDependencyError`` rather than writing a
  silent track (``audio=False`` writes no audio track at all).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from longvid.synth.clips import packaged_clip
from longvid.synth.needles import Needle
from longvid.synth.speech import SAMPLE_RATE, speak
from longvid.synth.writer import VideoWriter, WriterConfig


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


@dataclass(frozen=True)
class TimedNeedle:
    """A needle placed in a talk: a "text" needle shows as a slide, a "speech" one is said."""

    time_s: float  # when it starts
    needle: Needle
    show_s: float = 10.0  # how long a text needle stays on screen; no filler within this span either

    def __post_init__(self) -> None:
        if self.needle.kind not in ("text", "speech") or not self.needle.text:
            raise ValueError(f"a talk holds text and speech needles with their words, not {self.needle!r}")


_FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)  # clear word spacing when present
NEEDLE_SLIDE_BACKGROUND = (90, 20, 20)  # dark red: a needle slide stands out from the filler


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
    slides: Sequence[Slide] = (),
    clips: Sequence[Clip] = (),
    speech: Sequence[Speech] = (),
    fps: float = 2.0,
    size: tuple[int, int] = (640, 360),
    audio: bool = True,
) -> Path:
    """Write the video (atomically); parts not covered by a slide or clip are a plain dark frame."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    blank = np.zeros((size[1], size[0], 3), np.uint8)
    slide_cache: dict[Slide, np.ndarray] = {}
    clip_cache: dict[str, list[np.ndarray]] = {}
    spoken = [(s.start_s, speak(s.text)) for s in sorted(speech, key=lambda s: s.start_s)] if audio else []
    cfg = WriterConfig(fps=fps, crf=26, preset="ultrafast", tune="stillimage", gop_s=10.0,
                       audio_rate=SAMPLE_RATE if audio else None, audio_bitrate=None)
    with VideoWriter(tmp, size, cfg) as out:
        audio_pos = 0  # samples written
        for i in range(round(duration_s * fps)):
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
            out.write_frame(img)
            if audio:  # audio up to the end of this video frame
                end = round((i + 1) / fps * SAMPLE_RATE)
                chunk = np.zeros(end - audio_pos, np.float32)
                for start_s, wav in spoken:
                    a = round(start_s * SAMPLE_RATE)
                    lo, hi = max(a, audio_pos), min(a + len(wav), end)
                    if lo < hi:
                        chunk[lo - audio_pos : hi - audio_pos] += wav[lo - a : hi - a]
                out.write_audio(chunk)
                audio_pos = end
    tmp.replace(path)
    return path


FILLER_SAID = (
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
    needles: Sequence[TimedNeedle] = (),
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

    slides = [Slide(n.time_s, n.time_s + n.show_s, n.needle.text, NEEDLE_SLIDE_BACKGROUND)
              for n in needles if n.needle.kind == "text"]
    speech = [Speech(n.time_s + 0.5, n.needle.text) for n in needles if n.needle.kind == "speech"]
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
            clips.append(Clip(t, min(duration_s, t + clip_s), str(packaged_clip(clip_names[k % len(clip_names)]))))
            t += clip_s
        k += 1
    if speech_every_s:
        for i, s in enumerate(np.arange(2.0, duration_s - 5.0, speech_every_s)):
            if free(s, s + 5.0):
                speech.append(Speech(float(s), FILLER_SAID[i % len(FILLER_SAID)]))
    return slides, clips, speech
