"""Putting needles into a haystack the way a viewer would meet them.

Design decisions:
- The haystack is sampled ONCE at the grid rate (1 fps) with ``longvid.io.sample_frames``; the
  samples go to a small cache video (``haystack_<fps>fps.mp4``) and the audio to a mono 16 kHz
  ``.npy`` read through a memory map, so each cell re-reads a short file instead of decoding
  the long one, and memory stays bounded.
- A visual needle sits at index ``int(depth * N)``: inserted as one extra frame, as in LongVA
  (an image needle letterboxed to the haystack size; a text needle is the haystack frame there
  with the words burned in on a caption banner; inserted frames carry silence), or, in overlay
  mode, in place of that frame so that the rest of the cell is the haystack unchanged.
- A spoken needle is synthesised with espeak-ng (cached per phrase) and mixed into the audio at
  the needle's time; nothing is inserted in the picture. No espeak-ng, no spoken needles: that
  is an error, not a silent skip.
- A cell video holds the first N sampled frames (plus the inserted ones) at the grid rate, with
  its audio: exactly what an engine sampling at 1 fps sees, and cheap to write.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from longvid.errors import LongvidError, VideoTooShortError
from longvid.eval.niah.grid import NiahGrid
from longvid.synth.needles import Needle, burn_text, image_frame
from longvid.synth.speech import SAMPLE_RATE as AUDIO_RATE  # mono rate of cached and rendered audio
from longvid.synth.speech import speak

# a spoken needle at the very end still ends this long before the audio does: audio encoders pad
# and trim the last frame, and a recogniser hears the last word only with a little sound after it
_END_MARGIN_S = 0.5
from longvid.synth.writer import VideoWriter, WriterConfig, resize_rgb

logger = logging.getLogger(__name__)

# spoken needles are said a little slower than the synthesiser's default: one short phrase that a
# tiny speech recogniser must catch in a single hearing (the rate the benchmark was tuned with)
NEEDLE_WORDS_PER_MINUTE = 140
NEEDLE_PEAK = 0.9  # spoken needles are normalised to this peak level, whatever the phrase


@dataclass(frozen=True)
class Placement:
    index: int  # needle position in the cell's sampled sequence (int(depth * N))
    needle: Needle


CellMode = Literal["insert", "overlay"]  # a visual needle as an extra frame (LongVA), or in place of one
CELL_MODES: tuple[CellMode, ...] = ("insert", "overlay")


def check_cell_mode(mode: str) -> CellMode:
    if mode not in CELL_MODES:
        raise LongvidError(f"needle mode {mode!r}: use one of {', '.join(CELL_MODES)}")
    return mode  # type: ignore[return-value]


@dataclass(frozen=True)
class RenderedCell:
    """Where the needles of a written cell video went."""

    times_s: tuple[float, ...]  # time of each placement in the cell, in placement order
    frames: int  # video frames written (N, plus the inserted needle frames in insert mode)


class SampledHaystack:
    """A haystack sampled once at ``fps``; frames and audio served to every cell from a cache."""

    def __init__(
        self,
        path: str | Path,
        work_dir: str | Path,
        *,
        max_frames: int,
        fps: float = NiahGrid.fps,  # the grid's rate (one default, in NiahGrid)
        width: int | None = 640,
    ) -> None:
        self.path = Path(path)
        self.fps = fps
        self.max_frames = max_frames
        self.width = width
        st = self.path.stat()
        tag = hashlib.sha1(
            f"{self.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{fps}|{max_frames}|{width}".encode()
        ).hexdigest()[:12]
        self.dir = Path(work_dir) / f"haystack-{tag}"
        self.video_path = self.dir / f"haystack_{fps:g}fps.mp4"
        self.audio_path = self.dir / "audio_16k.npy"
        self.size: tuple[int, int] = (0, 0)
        self.num_frames = 0

    def prepare(self) -> SampledHaystack:
        """Sample the haystack (once; later calls and reruns reuse the cache)."""
        done = self.dir / "done.txt"
        if done.exists():
            n, w, h = (int(x) for x in done.read_text().split())
            self.num_frames, self.size = n, (w, h)
            return self
        from longvid.io.audio import NoAudioStreamError, iter_audio
        from longvid.io.probe import probe
        from longvid.io.sampling import SamplingConfig, sample_frames

        self.dir.mkdir(parents=True, exist_ok=True)
        info = probe(self.path)
        have = int(info.duration_s * self.fps + 1e-6)
        if have < self.max_frames:
            raise VideoTooShortError(
                f"{self.path} gives {have} frames at {self.fps:g} fps but the grid asks for {self.max_frames}: "
                "use a longer haystack (longvid.eval.haystack.build_haystack makes one) or smaller --frames"
            )
        w0, h0 = info.display_size
        size = (
            (self.width, int(round(h0 * self.width / w0 / 2)) * 2)
            if self.width
            else (w0 - w0 % 2, h0 - h0 % 2)
        )
        n = 0
        tmp_video = self.video_path.with_suffix(".tmp.mp4")
        with VideoWriter(tmp_video, size, WriterConfig(fps=self.fps, audio_rate=None, crf=20, gop_s=10)) as w:
            for batch in sample_frames(self.path, SamplingConfig(fps=self.fps, resize="none")):
                for frame in batch.frames:
                    if n >= self.max_frames:
                        break
                    w.write_frame(resize_rgb(frame, size))
                    n += 1
                if n >= self.max_frames:
                    break
        tmp_video.replace(self.video_path)
        need = int(round(self.max_frames / self.fps * AUDIO_RATE))
        audio = np.lib.format.open_memmap(
            self.audio_path.with_suffix(".tmp.npy"), mode="w+", dtype=np.float32, shape=(need,)
        )
        got = 0
        try:
            for clip in iter_audio(self.path, sample_rate=AUDIO_RATE):
                part = clip.samples[: need - got]
                audio[got : got + len(part)] = part
                got += len(part)
                if got >= need:
                    break
        except NoAudioStreamError:
            pass  # a haystack without sound is silent, not an error
        audio[got:] = 0.0
        audio.flush()
        del audio
        self.audio_path.with_suffix(".tmp.npy").replace(self.audio_path)
        self.num_frames, self.size = n, size
        done.write_text(f"{n} {size[0]} {size[1]}")
        logger.info("sampled haystack %s: %d frames at %g fps, %dx%d", self.path, n, self.fps, *size)
        return self

    def frames(self, n: int):
        """Yield the first ``n`` sampled frames (RGB uint8)."""
        import av

        assert n <= self.num_frames, (n, self.num_frames)
        with av.open(str(self.video_path)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i >= n:
                    return
                yield f.to_ndarray(format="rgb24")

    def frame_at(self, i: int) -> np.ndarray:
        """Sampled frame ``i`` (decodes the cache up to it)."""
        frame = None
        for frame in self.frames(i + 1):
            pass
        assert frame is not None, i
        return frame

    def audio(self) -> np.ndarray:
        return np.load(self.audio_path, mmap_mode="r")


# ----------------------------------------------------------------------------- one cell
def render_cell(
    haystack: SampledHaystack,
    n: int,
    placements: list[Placement],
    out: str | Path,
    *,
    speech_cache: str | Path,
    mode: CellMode = "insert",
    lossless: bool = False,
) -> RenderedCell:
    """Write the cell video: ``n`` haystack frames with the needles placed; say where they went.

    ``mode="insert"`` (LongVA): each visual needle is an extra frame at its index (text burned
    into a copy of the haystack frame there). ``mode="overlay"``: the needle takes the place of
    the haystack frame at its index (text burned into it, an image replacing it; depth 1.0 uses
    the last frame), so the cell keeps exactly ``n`` frames and every other frame, and the audio,
    stay where they were in the haystack. Spoken needles are mixed into the audio at their index.
    Returns where each placement went (``RenderedCell``).
    """
    check_cell_mode(mode)
    fps = haystack.fps
    spf = int(round(AUDIO_RATE / fps))  # audio samples per sampled frame
    if mode == "overlay":
        placements_eff = [Placement(min(p.index, n - 1), p.needle) for p in placements]
    else:
        placements_eff = list(placements)
    visual = sorted(
        (i for i, p in enumerate(placements_eff) if p.needle.kind != "speech"),
        key=lambda i: placements_eff[i].index,
    )
    n_out = n + (len(visual) if mode == "insert" else 0)
    src_audio = haystack.audio()
    out_audio = np.zeros(n_out * spf, np.float32)
    times: list[float] = [0.0] * len(placements)
    blank = np.zeros((haystack.size[1], haystack.size[0], 3), np.uint8)
    j = 0  # output frame index
    vi = 0
    last = None
    cfg = WriterConfig(fps=fps, audio_rate=AUDIO_RATE, gop_s=10, lossless=lossless)
    with VideoWriter(out, haystack.size, cfg) as w:

        def needle_image(i: int, frame: np.ndarray | None) -> np.ndarray:
            nd = placements_eff[i].needle
            if nd.kind == "image":
                return image_frame(nd.image, haystack.size)
            return burn_text(frame if frame is not None else blank, nd.text)

        def emit(frame: np.ndarray, audio_from: int | None) -> None:
            nonlocal j
            w.write_frame(frame)
            if audio_from is not None:
                out_audio[j * spf : (j + 1) * spf] = src_audio[audio_from * spf : (audio_from + 1) * spf]
            j += 1

        for i, frame in enumerate(haystack.frames(n)):
            here = []
            while vi < len(visual) and placements_eff[visual[vi]].index == i:
                here.append(visual[vi])
                vi += 1
            if mode == "insert":
                for k in here:
                    times[k] = j / fps
                    emit(needle_image(k, frame), None)  # an inserted frame carries silence
                emit(frame, i)
            else:
                shown = frame
                for k in here:  # several needles on one frame: drawn in order, the last on top
                    shown = needle_image(k, shown if placements_eff[k].needle.kind == "text" else frame)
                    times[k] = j / fps
                emit(shown, i)
            last = frame
        while vi < len(visual):  # insert mode, depth 1.0: after the last haystack frame
            k = visual[vi]
            times[k] = j / fps
            emit(needle_image(k, last), None)
            vi += 1
        for k, p in enumerate(placements_eff):
            if p.needle.kind != "speech":
                continue
            voice = speak(p.needle.text, words_per_minute=NEEDLE_WORDS_PER_MINUTE, peak=NEEDLE_PEAK,
                          cache_dir=speech_cache)
            shift = sum(1 for v in visual if placements_eff[v].index <= p.index) if mode == "insert" else 0
            # where haystack frame p.index lands; a phrase that would run past the end starts early
            # enough to end _END_MARGIN_S before it
            latest = len(out_audio) - len(voice) - int(_END_MARGIN_S * AUDIO_RATE)
            start = max(0, min((p.index + shift) * spf, latest))
            end = min(len(out_audio), start + len(voice))
            out_audio[start:end] = np.clip(out_audio[start:end] + voice[: end - start], -1.0, 1.0)
            times[k] = start / AUDIO_RATE
        w.write_audio(out_audio)
    return RenderedCell(tuple(times), j)
