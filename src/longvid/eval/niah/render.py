"""Putting needles into a haystack the way a viewer would meet them.

Design decisions:
- The haystack is sampled ONCE at the grid rate (1 fps) with ``longvid.io.sample_frames``; the
  samples go to a small cache video (``haystack_<fps>fps.mp4``) and the audio to a mono 16 kHz
  ``.npy`` read through a memory map, so each cell re-reads a short file instead of decoding
  the long one, and memory stays bounded.
- Every visual needle is one inserted frame at index ``int(depth * N)``, as in LongVA: an image
  needle is the image (letterboxed to the haystack size); a text needle is the haystack frame at
  that point with the words burned in on a caption banner. Inserted frames carry silence.
- A spoken needle is synthesised with espeak-ng (cached per phrase) and mixed into the audio at
  the needle's time; nothing is inserted in the picture. No espeak-ng, no spoken needles: that
  is an error, not a silent skip.
- A cell video holds the first N sampled frames (plus the inserted ones) at the grid rate, with
  its audio: exactly what an engine sampling at 1 fps sees, and cheap to write.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from longvid.errors import MissingDependencyError, VideoTooShortError
from longvid.eval.media import VideoWriter, WriterConfig, decode_audio_mono, resize_rgb
from longvid.eval.niah.needles import Needle

logger = logging.getLogger(__name__)

AUDIO_RATE = 16_000  # mono rate of cached and rendered audio (what speech recognisers take)
_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


@dataclass(frozen=True)
class Placement:
    index: int  # needle position in the cell's sampled sequence (int(depth * N))
    needle: Needle


class SampledHaystack:
    """A haystack sampled once at ``fps``; frames and audio served to every cell from a cache."""

    def __init__(self, path: str | Path, work_dir: str | Path, *, max_frames: int, fps: float = 1.0,
                 width: int | None = 640) -> None:
        self.path = Path(path)
        self.fps = fps
        self.max_frames = max_frames
        self.width = width
        st = self.path.stat()
        tag = hashlib.sha1(f"{self.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{fps}|{max_frames}|{width}"
                           .encode()).hexdigest()[:12]
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
        size = (self.width, int(round(h0 * self.width / w0 / 2)) * 2) if self.width else (w0 - w0 % 2, h0 - h0 % 2)
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
        audio = np.lib.format.open_memmap(self.audio_path.with_suffix(".tmp.npy"), mode="w+",
                                          dtype=np.float32, shape=(need,))
        got = 0
        for chunk in decode_audio_mono(self.path, AUDIO_RATE, max_seconds=self.max_frames / self.fps):
            audio[got : got + len(chunk)] = chunk[: need - got]
            got += len(chunk)
        audio[got:] = 0.0  # a haystack without sound is silent, not an error
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

    def audio(self) -> np.ndarray:
        return np.load(self.audio_path, mmap_mode="r")


# ----------------------------------------------------------------------------- needle pixels and sound
def burn_text(frame: np.ndarray, text: str) -> np.ndarray:
    """The frame with ``text`` on a dark caption banner across its middle (large, OCR-readable)."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(frame).convert("RGB")
    w, h = img.size
    size = max(12, h // 12)
    try:
        font = ImageFont.truetype(_FONT, size)
    except OSError:
        font = ImageFont.load_default(size=size)
    draw = ImageDraw.Draw(img)
    while size > 10 and draw.textlength(text, font=font) > 0.92 * w:  # shrink long lines to fit
        size -= 2
        font = ImageFont.truetype(_FONT, size) if Path(_FONT).exists() else ImageFont.load_default(size=size)
    tw = draw.textlength(text, font=font)
    x, y = (w - tw) / 2, h / 2 - size / 2
    draw.rectangle([x - size * 0.4, y - size * 0.3, x + tw + size * 0.4, y + size * 1.3], fill=(15, 15, 15))
    draw.text((x, y), text, font=font, fill=(255, 255, 255))
    return np.asarray(img)


def image_frame(path: str, size: tuple[int, int]) -> np.ndarray:
    """A needle image letterboxed onto a black frame of ``size`` (w, h)."""
    from PIL import Image, ImageOps

    img = ImageOps.contain(Image.open(path).convert("RGB"), size, Image.BILINEAR)  # fit, up or down
    canvas = Image.new("RGB", size, (0, 0, 0))
    canvas.paste(img, ((size[0] - img.width) // 2, (size[1] - img.height) // 2))
    return np.asarray(canvas)


def speak(text: str, cache_dir: str | Path) -> np.ndarray:
    """``text`` spoken by espeak-ng, mono float32 at 16 kHz (cached by phrase)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MissingDependencyError("spoken needles need espeak-ng on PATH (Debian: apt install espeak-ng)")
    cache = Path(cache_dir) / f"speech-{hashlib.sha1(text.encode()).hexdigest()[:12]}.npy"
    if cache.exists():
        return np.load(cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    wav = cache.with_suffix(".wav")
    subprocess.run([exe, "-s", "140", "-w", str(wav), text], check=True, capture_output=True)
    with wave.open(str(wav)) as f:
        rate, n, width, channels = f.getframerate(), f.getnframes(), f.getsampwidth(), f.getnchannels()
        raw = np.frombuffer(f.readframes(n), dtype=np.int16 if width == 2 else np.uint8)
    x = raw.astype(np.float32) / 32768.0 if width == 2 else (raw.astype(np.float32) - 128) / 128
    x = x.reshape(-1, channels).mean(axis=1)
    t_out = np.arange(int(len(x) * AUDIO_RATE / rate)) / AUDIO_RATE
    y = np.interp(t_out, np.arange(len(x)) / rate, x).astype(np.float32)
    peak = float(np.abs(y).max()) or 1.0
    y = y * (0.9 / peak)
    wav.unlink()
    np.save(cache, y)
    return y


# ----------------------------------------------------------------------------- one cell
def render_cell(haystack: SampledHaystack, n: int, placements: list[Placement], out: str | Path,
                *, speech_cache: str | Path) -> dict:
    """Write the cell video: ``n`` haystack frames with the needles placed; returns where they went.

    The returned dict maps each placement (in order) to its time in the cell video, seconds.
    """
    fps = haystack.fps
    spf = int(round(AUDIO_RATE / fps))  # audio samples per sampled frame
    visual = sorted((p for p in placements if p.needle.kind != "speech"), key=lambda p: p.index)
    spoken = [p for p in placements if p.needle.kind == "speech"]
    src_audio = haystack.audio()
    out_audio = np.zeros((n + len(visual)) * spf, np.float32)
    times: list[float] = [0.0] * len(placements)
    j = 0  # output frame index
    vi = 0
    last = None
    with VideoWriter(out, haystack.size, WriterConfig(fps=fps, audio_rate=AUDIO_RATE, gop_s=10)) as w:

        def put_needles(i: int, frame: np.ndarray | None) -> None:
            nonlocal j, vi
            while vi < len(visual) and visual[vi].index == i:
                p = visual[vi]
                if p.needle.kind == "image":
                    img = image_frame(p.needle.image, haystack.size)
                else:
                    img = burn_text(frame if frame is not None else np.zeros((*haystack.size[::-1], 3), np.uint8),
                                    p.needle.text)
                w.write_frame(img)
                times[placements.index(p)] = j / fps
                j += 1
                vi += 1

        for i, frame in enumerate(haystack.frames(n)):
            put_needles(i, frame)
            w.write_frame(frame)
            out_audio[j * spf : (j + 1) * spf] = src_audio[i * spf : (i + 1) * spf]
            j += 1
            last = frame
        put_needles(n, last)  # depth 1.0: after the last haystack frame
        for p in spoken:
            # the spoken needle starts where haystack frame p.index lands in the output
            shift = sum(1 for v in visual if v.index <= p.index)
            start = (p.index + shift) * spf
            voice = speak(p.needle.text, speech_cache)
            end = min(len(out_audio), start + len(voice))
            if start >= len(out_audio):  # depth 1.0: the phrase follows the last frame
                out_audio = np.concatenate([out_audio, np.zeros(start + len(voice) - len(out_audio), np.float32)])
                end = start + len(voice)
            out_audio[start:end] = np.clip(out_audio[start:end] + voice[: end - start], -1, 1)
            times[placements.index(p)] = start / AUDIO_RATE
        # video and audio lengths: pad the picture with the last frame if speech runs past it
        while j * spf < len(out_audio):
            w.write_frame(last if last is not None else np.zeros((*haystack.size[::-1], 3), np.uint8))
            j += 1
        w.write_audio(np.pad(out_audio, (0, j * spf - len(out_audio))))
    return {"times_s": times, "frames": j}
