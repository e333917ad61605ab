"""Benchmark: on-screen text needles (2-10 s) over moving footage and screen recordings, read by OCR.

Generates a video (640x360, 2 fps, no audio) whose background cycles through testsrc2-like
generated motion (scrolling colour bars, moving discs, a ticking counter), the packaged real
clips (``longvid.synth.clips.packaged_clips()``, looped) and screen-recording-like frames (a
window with menus, scrolling lines of small text, a moving cursor, a clock). Needles are phrases
("<word> <word> <4 digits> <word>") burned in for 2-10 s at random times, positions and sizes,
half on a dark plate and half as bare outlined text. The video is then indexed by the offline
engine's visual stage (``run_visual``: EfficientNet-Lite0 features, temporal reduction, OCR)
twice: with the earlier OCR schedule (kept frames, at most every ``ocr_min_gap_s``, plus hard
cuts) and with the text-region schedule (the default). The OCR reads are turned into on-screen
lines (``ocr_track``) as the index would hold them.

Per needle: whether its text is in the index (a line visible during the needle with at least
80% character accuracy), and its character accuracy (1 - CER against the best such line, case
and spaces kept; 0 when no line overlaps). Totals, OCR calls and OCR seconds per hour of video.

    python bench/ocr_needles.py                    # 10 minutes, 24 needles
    python bench/ocr_needles.py --duration 3600 --needles 40
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

W, H, FPS = 640, 360, 2.0
WORDS = ("harbour lantern copper meadow violet summit orbit falcon granite willow cobalt ember "
         "quartz river maple signal beacon tundra velvet saffron glacier nimbus").split()
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
FOUND_ACCURACY = 0.8  # a line this close to the needle counts as the needle found


@dataclass(frozen=True)
class TextNeedle:
    start_s: float
    end_s: float
    text: str
    xy: tuple[int, int]
    size: int
    plate: bool
    background: str


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        return ImageFont.load_default(size=size)


def testsrc_frame(t: float) -> np.ndarray:
    """testsrc2-like motion: scrolling colour bars, two moving discs, a ticking counter."""
    from PIL import Image, ImageDraw

    x = np.arange(W)
    bars = np.array([(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0), (255, 0, 255), (255, 0, 0), (0, 0, 255)])
    idx = ((x + int(t * 40)) // (W // 7)) % 7
    img = np.repeat(bars[idx][None], H, 0).astype(np.uint8)
    img[H * 2 // 3:] = (np.linspace(0, 255, W)[None, :, None] + t * 30) % 256
    pil = Image.fromarray(img)
    d = ImageDraw.Draw(pil)
    for k in range(2):
        cx = (W / 2) + (W / 3) * math.sin(t * 0.9 + k * 2)
        cy = (H / 2) + (H / 4) * math.cos(t * 1.3 + k)
        d.ellipse([cx - 30, cy - 30, cx + 30, cy + 30], fill=(20 + 200 * k, 40, 200 - 150 * k))
    d.text((W - 150, 10), f"{int(t) // 60:02d}:{int(t) % 60:02d}.{int(t * 10) % 10}", font=_font(24), fill=(0, 0, 0))
    return np.asarray(pil)


def screen_frame(t: float, seed: int) -> np.ndarray:
    """A screen recording: window chrome, menu labels, scrolling small text, a cursor, a clock."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    pil = Image.new("RGB", (W, H), (245, 245, 245))
    d = ImageDraw.Draw(pil)
    d.rectangle([0, 0, W, 24], fill=(60, 63, 65))
    for i, m in enumerate(("File", "Edit", "View", "Tools", "Help")):
        d.text((10 + 60 * i, 5), m, font=_font(12), fill=(230, 230, 230))
    d.text((W - 70, 5), f"{9 + int(t) // 3600:02d}:{int(t) // 60 % 60:02d}", font=_font(12), fill=(230, 230, 230))
    d.rectangle([0, 24, 120, H], fill=(225, 228, 232))
    for i in range(8):
        d.text((8, 34 + 22 * i), f"item_{rng.randint(10, 99)}.py", font=_font(11), fill=(50, 50, 50))
    scroll = int(t * 12)
    for i in range(-1, 16):
        y = 34 + 18 * i - scroll % 18
        n = (scroll // 18 + i) * 7919 + seed
        line = " ".join(WORDS[(n * (j + 3)) % len(WORDS)] for j in range(2 + n % 5))
        d.text((135, y), f"{(scroll // 18 + i) % 900 + 1:3d}  {line}", font=_font(11), fill=(40, 40, 120))
    cx, cy = 200 + 180 * math.sin(t * 0.7), 180 + 120 * math.cos(t * 0.5)
    d.polygon([(cx, cy), (cx + 12, cy + 12), (cx + 4, cy + 12)], fill=(0, 0, 0))
    return np.asarray(pil)


class ClipLoop:
    """Frames of the packaged real clips, looped, resized to the video size."""

    def __init__(self) -> None:
        import av

        from longvid.synth.clips import packaged_clips

        self.frames: list[np.ndarray] = []
        for path in packaged_clips():
            with av.open(str(path)) as c:
                s = c.streams.video[0]
                step = max(1, round(float(s.average_rate or 25) / FPS))
                for i, fr in enumerate(c.decode(s)):
                    if i % step == 0:
                        self.frames.append(fr.to_ndarray(width=W, height=H, format="rgb24"))
                    if len(self.frames) > 2000:
                        break

    def frame(self, k: int) -> np.ndarray:
        return self.frames[k % len(self.frames)]


def background_of(t: float, segment_s: float) -> str:
    return ("testsrc2", "clip", "screen")[int(t // segment_s) % 3]


def make_needles(duration_s: float, n: int, seed: int, segment_s: float) -> list[TextNeedle]:
    rng = random.Random(seed)
    slot = duration_s / n
    out = []
    for i in range(n):
        length = rng.uniform(2.0, 10.0)
        start = i * slot + rng.uniform(1.0, max(1.0, slot - length - 1.0))
        words = rng.sample(WORDS, 3)
        text = f"{words[0].capitalize()} {words[1]} {rng.randint(1000, 9999)} {words[2]}"
        size = rng.randint(16, 40)
        tw = int(len(text) * size * 0.62)
        xy = (rng.randint(4, max(5, W - tw - 4)), rng.randint(30, H - size - 10))
        out.append(TextNeedle(round(start, 2), round(start + length, 2), text, xy, size, rng.random() < 0.5,
                              background_of(start, segment_s)))
    return out


def burn(frame: np.ndarray, nd: TextNeedle) -> np.ndarray:
    from PIL import Image, ImageDraw

    pil = Image.fromarray(frame)
    d = ImageDraw.Draw(pil)
    font = _font(nd.size)
    if nd.plate:
        x0, y0, x1, y1 = d.textbbox(nd.xy, nd.text, font=font)
        pad = nd.size // 3
        d.rectangle([x0 - pad, y0 - pad, x1 + pad, y1 + pad], fill=(15, 15, 15))
        d.text(nd.xy, nd.text, font=font, fill=(255, 255, 255))
    else:
        d.text(nd.xy, nd.text, font=font, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
    return np.asarray(pil)


def write(path: Path, duration_s: float, needles: list[TextNeedle], segment_s: float) -> None:
    from longvid.synth.writer import VideoWriter, WriterConfig

    clips = ClipLoop()
    n = int(duration_s * FPS)
    with VideoWriter(path, (W, H), WriterConfig(fps=FPS, audio_rate=None, crf=23)) as w:
        for k in range(n):
            t = k / FPS
            kind = background_of(t, segment_s)
            frame = testsrc_frame(t) if kind == "testsrc2" else clips.frame(k) if kind == "clip" else \
                screen_frame(t, int(t // segment_s))
            for nd in needles:
                if nd.start_s <= t < nd.end_s:
                    frame = burn(frame, nd)
            w.write_frame(frame)


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def accuracy(needle: str, line: str) -> float:
    """1 - CER of ``line`` against ``needle`` (case and single spaces kept); the needle may sit
    inside a longer line, so the best window of the line is compared."""
    a, b = " ".join(needle.split()), " ".join(line.split())
    best = levenshtein(a, b)
    n = len(a)
    for i in range(max(1, len(b) - n + 1)):  # the needle as part of a longer line
        for m in (n - 2, n - 1, n, n + 1, n + 2):
            if 0 < m and i + m <= len(b):
                best = min(best, levenshtein(a, b[i:i + m]))
    return max(0.0, 1.0 - best / max(1, n))


def run(video: Path, schedule: str, encoder, ocr, info, work: Path):
    from longvid.offline.config import IndexSettings
    from longvid.offline.timeline import ocr_track
    from longvid.offline.visual import run_visual

    t0 = time.perf_counter()
    track = run_visual(str(video), work, IndexSettings(), encoder=encoder, ocr=ocr, info=info, schedule=schedule)
    wall = time.perf_counter() - t0
    return ocr_track(track.reads, info.duration_s), track.ocr_stats, wall


def score(needles: list[TextNeedle], lines) -> list[tuple[bool, float, str]]:
    out = []
    for nd in needles:
        cands = [x for x in lines if x.start_s < nd.end_s and x.end_s > nd.start_s]
        best = max(cands, key=lambda x: accuracy(nd.text, x.text), default=None)
        acc = accuracy(nd.text, best.text) if best else 0.0
        out.append((acc >= FOUND_ACCURACY, acc, best.text if best else ""))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=600.0)
    ap.add_argument("--needles", type=int, default=24)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--segment", type=float, default=40.0, help="seconds per background kind before the next")
    ap.add_argument("--schedules", default="kept_frames,regions")
    ap.add_argument("--out", type=Path, default=None, help="folder for the video (default: a temporary one)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from longvid.encoders import create_encoder
    from longvid.io import probe
    from longvid.offline.config import IndexSettings
    from longvid.offline.ocr import OCR_ENGINES

    root = args.out or Path(tempfile.mkdtemp(prefix="ocr_needles_"))
    root.mkdir(parents=True, exist_ok=True)
    video = root / f"needles_{int(args.duration)}s_{args.needles}_{args.seed}.mp4"
    needles = make_needles(args.duration, args.needles, args.seed, args.segment)
    if not video.exists():
        t0 = time.perf_counter()
        write(video, args.duration, needles, args.segment)
        print(f"wrote {video} in {time.perf_counter() - t0:.0f} s")
    info = probe(video)
    s = IndexSettings()
    encoder = create_encoder(s.encoder)
    ocr = OCR_ENGINES.create(s.ocr, min_confidence=s.ocr_min_confidence, max_side=s.ocr_max_side, min_chars=s.ocr_min_chars)
    results = {}
    for sched in args.schedules.split(","):
        lines, stats, wall = run(video, sched, encoder, ocr, info, Path(tempfile.mkdtemp(prefix=f"work_{sched}_")))
        results[sched] = (score(needles, lines), stats, wall)
    names = list(results)
    print(f"\n{len(needles)} needles over {args.duration:.0f} s ({W}x{H}); columns per schedule: found, 1-CER, read as")
    for i, nd in enumerate(needles):
        cells = "  ".join(f"{'yes' if results[n][0][i][0] else 'NO ':3s} {results[n][0][i][1]:.2f} {results[n][0][i][2][:34]!r:36s}"
                          for n in names)
        print(f"{nd.start_s:7.1f}-{nd.end_s:7.1f} {nd.background:8s} {nd.size:2d}px {'plate' if nd.plate else 'bare '} "
              f"{nd.text!r:36s} {cells}")
    per_h = 3600.0 / args.duration
    print(f"\n{'schedule':12s} {'found':>7s} {'mean 1-CER':>10s} {'exact':>6s} {'det calls/h':>11s} "
          f"{'rec calls/h':>11s} {'boxes/h':>8s} {'OCR s/h':>8s} {'stage wall s/h':>14s}")
    for n in names:
        sc, st, wall = results[n]
        det = st.get("detections", 0)
        print(f"{n:12s} {sum(f for f, _, _ in sc):3d}/{len(sc):<3d} {np.mean([a for _, a, _ in sc]):10.3f} "
              f"{sum(a == 1.0 for _, a, _ in sc):6d} {det * per_h:11.0f} {st.get('recognitions', 0) * per_h:11.0f} "
              f"{st.get('boxes_recognised', 0) * per_h:8.0f} {st.get('seconds', 0.0) * per_h:8.0f} {wall * per_h:14.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
