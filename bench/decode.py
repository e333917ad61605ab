"""Benchmark: sampling 1 frame per second from a long 640x360 30 fps H.264 video.

Compares, in one run and each in its own process (so peak RSS is per method):
  longvid exact / nonref / keyframes modes at 1 fps, and exact mode with 16 frames (seeking),
  (a) a decord loop (as in the released LongVU/LongVA code; skipped when decord is not importable),
  (b) a naive PyAV full decode keeping every 30th frame,
  (c) the floor: ``ffmpeg -i f -f null -`` (full decode, nothing kept),
  (d) OpenCV ``grab()`` every frame, ``retrieve()`` every 30th (the candidate second backend).
Prints wall time, CPU time (all threads), peak RSS, frames, ratios against ffmpeg, how far each
fast mode's frames are from the exact mode's frames (in frames), and the targets met or missed.
On a shared machine wall time swings with other load; CPU time is the steadier comparison.

The test video is made once and cached (~/.cache/longvid/bench/): a 60 s segment encoded with
x264 ``superfast`` (B-frames on, as real files have; keyframe every 250 frames) with AAC audio,
then repeated with stream copy up to the requested duration, which takes seconds, not minutes.

    python bench/decode.py                 # 1 hour
    python bench/decode.py --duration 300  # quick run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(os.environ.get("LONGVID_BENCH_CACHE", Path.home() / ".cache" / "longvid" / "bench"))
SEGMENT_S = 60
FPS = 30
GOP = 250


def make_video(duration_s: int) -> Path:
    out = CACHE / f"testsrc2_640x360_30fps_{duration_s}s.mp4"
    if out.exists():
        return out
    if not shutil.which("ffmpeg"):
        sys.exit("ffmpeg is needed to generate the benchmark video")
    CACHE.mkdir(parents=True, exist_ok=True)
    seg = CACHE / f"segment_{SEGMENT_S}s.mp4"
    if not seg.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate={FPS}:duration={SEGMENT_S}",
             "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={SEGMENT_S}",
             "-c:v", "libx264", "-preset", "superfast", "-g", str(GOP), "-keyint_min", str(GOP),
             "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", str(seg)],
            check=True,
        )
    reps = -(-duration_s // SEGMENT_S)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("".join(f"file '{seg}'\n" for _ in range(reps)))
        listing = fh.name
    tmp = out.with_suffix(".part.mp4")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", listing,
         "-t", str(duration_s), "-c", "copy", str(tmp)],
        check=True,
    )
    os.unlink(listing)
    tmp.rename(out)
    return out


# ----------------------------------------------------------------------------- methods (child side)
def _longvid(video: str, mode: str, num_frames: int | None = None) -> list[float]:
    from longvid.io import SamplingConfig, sample_frames

    if num_frames:
        cfg = SamplingConfig(num_frames=num_frames, mode=mode, resize="none")
    else:
        cfg = SamplingConfig(fps=1.0, mode=mode, resize="none")
    times: list[float] = []
    for batch in sample_frames(video, cfg):
        times.extend(batch.timestamps_s.tolist())
    return times


def _decord(video: str) -> list[float]:
    import numpy as np
    from decord import VideoReader, cpu  # one frame a second by index, as the released LongVU/LongVA code

    vr = VideoReader(video, ctx=cpu(0), num_threads=1)
    fps = float(vr.get_avg_fps())
    idx = np.arange(0, len(vr), round(fps))
    frames = [vr[i].asnumpy() for i in idx]
    assert len(frames) == len(idx)
    return [float(vr.get_frame_timestamp(i)[0]) for i in idx]


def _naive_pyav(video: str) -> list[float]:
    import av

    times = []
    with av.open(video) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for k, frame in enumerate(c.decode(s)):
            if k % FPS == 0:
                frame.to_ndarray(format="rgb24")
                times.append(float(frame.time))
    return times


def _opencv(video: str) -> list[float]:
    import cv2

    cap = cv2.VideoCapture(video)
    times, k = [], 0
    while cap.grab():
        if k % FPS == 0:
            ok, bgr = cap.retrieve()
            assert ok
            cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            times.append(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000)
        k += 1
    return times


def _ffmpeg(video: str) -> list[float]:
    subprocess.run(["ffmpeg", "-v", "error", "-i", video, "-f", "null", "-"], check=True)
    return []


DECORD = "(a) decord loop (as in the released LongVU/LongVA code)"
METHODS = {
    "longvid exact": lambda v: _longvid(v, "exact"),
    "longvid nonref": lambda v: _longvid(v, "nonref"),
    "longvid keyframes": lambda v: _longvid(v, "keyframes"),
    "longvid exact 16 frames": lambda v: _longvid(v, "exact", num_frames=16),
    DECORD: _decord,
    "(b) naive PyAV": _naive_pyav,
    "(c) ffmpeg -f null": _ffmpeg,
    "(d) OpenCV grab/retrieve": _opencv,
}


def child(method: str, video: str, out: str) -> None:
    t0 = time.perf_counter()
    times = METHODS[method](video)
    wall = time.perf_counter() - t0
    who = resource.RUSAGE_CHILDREN if method.startswith("(c)") else resource.RUSAGE_SELF
    usage = resource.getrusage(who)
    rss_mb = usage.ru_maxrss / 1024  # KiB on Linux
    cpu_s = usage.ru_utime + usage.ru_stime  # all threads; steadier than wall time on a shared machine
    Path(out).write_text(json.dumps({"wall_s": wall, "cpu_s": cpu_s, "rss_mb": rss_mb, "times": times}))


# ----------------------------------------------------------------------------- parent side
def available(method: str) -> str | None:
    """None when the method can run here, else why not."""
    import importlib.util

    if method == DECORD and importlib.util.find_spec("decord") is None:
        return "decord is not installed (not a longvid dependency)"
    if method.startswith("(d)") and importlib.util.find_spec("cv2") is None:
        return "opencv is not installed"
    if method.startswith("(c)") and not shutil.which("ffmpeg"):
        return "ffmpeg CLI not found"
    return None


def frames_off(times: list[float], ref: list[float], fps: float) -> tuple[float, int]:
    """(largest distance from the reference frames, in frames; how many differ)."""
    if not times or len(times) != len(ref):
        return float("nan"), -1
    d = [abs(a - b) * fps for a, b in zip(times, ref)]
    return max(d), sum(x > 0.01 for x in d)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=3600, help="video length in seconds (default 3600)")
    ap.add_argument("--methods", nargs="*", default=None, help="subset of: " + ", ".join(METHODS))
    ap.add_argument("--repeat", type=int, default=1, help="runs per method, best kept (steadier on a busy machine)")
    ap.add_argument("--child", nargs=3, metavar=("METHOD", "VIDEO", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    t0 = time.perf_counter()
    video = make_video(args.duration)
    print(f"video: {video} ({video.stat().st_size / 1e6:.0f} MB, made/found in {time.perf_counter() - t0:.1f} s)")
    results: dict[str, dict] = {}
    for method in args.methods or list(METHODS):
        why = available(method)
        if why:
            print(f"  skip {method}: {why}")
            continue
        runs = []
        for _ in range(max(1, args.repeat)):
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
                out = fh.name
            subprocess.run([sys.executable, __file__, "--child", method, str(video), out], check=True)
            runs.append(json.loads(Path(out).read_text()))
            os.unlink(out)
        r = results[method] = {**runs[0], **{k: min(x[k] for x in runs) for k in ("wall_s", "cpu_s", "rss_mb")}}
        print(f"  {method:28s} {r['wall_s']:7.1f} s wall {r['cpu_s']:7.1f} s CPU {r['rss_mb']:6.0f} MB "
              f"{len(r['times']):5d} frames", flush=True)
    ref = results.get("(c) ffmpeg -f null", {})
    exact = results.get("longvid exact", {}).get("times", [])
    print()
    print("| method | wall s | x ffmpeg (wall) | CPU s | x ffmpeg (CPU) | peak RSS MB | frames | frames off exact (max, count) |")
    print("|---|---|---|---|---|---|---|---|")
    for method, r in results.items():
        ratio = f"{r['wall_s'] / ref['wall_s']:.2f}" if ref else "-"
        cpu_ratio = f"{r['cpu_s'] / ref['cpu_s']:.2f}" if ref else "-"
        off = "-"
        if r["times"] and method not in ("longvid exact", "longvid exact 16 frames") and exact:
            mx, cnt = frames_off(r["times"], exact, FPS)
            off = f"{mx:.1f}, {cnt}"
        print(f"| {method} | {r['wall_s']:.1f} | {ratio} | {r['cpu_s']:.1f} | {cpu_ratio} | {r['rss_mb']:.0f} "
              f"| {len(r['times']) or '-'} | {off} |")
    targets(results)


def targets(results: dict[str, dict]) -> None:
    """The goals for 1 fps sampling, checked on this run."""
    ref = results.get("(c) ffmpeg -f null")
    ex, fast, decord = results.get("longvid exact"), results.get("longvid nonref"), results.get(DECORD)
    if not (ref and ex):
        return
    print()

    def line(ok: bool, text: str) -> None:
        print(f"  [{'met' if ok else 'MISSED'}] {text}")

    for kind in ("wall_s", "cpu_s"):
        r = ex[kind] / ref[kind]
        line(r <= 0.85, f"exact mode <= 0.85x ffmpeg full decode ({kind[:-2]}): {r:.2f}x")
    line(ex["rss_mb"] < 150, f"exact mode peak RSS < 150 MB: {ex['rss_mb']:.0f} MB")
    if fast:
        mx, _ = frames_off(fast["times"], ex["times"], FPS)
        line(mx <= 1.0 + 1e-6, f"nonref mode: every frame within one frame of exact mode's (max {mx:.2f} frames)")
        for kind in ("wall_s", "cpu_s"):
            r = fast[kind] / ref[kind]
            line(r < 0.7, f"nonref mode < 0.7x ffmpeg full decode ({kind[:-2]}): {r:.2f}x")
    if decord:
        r = decord["wall_s"] / ex["wall_s"]
        line(r >= 1.8, f"exact >= 1.8x faster than the decord loop: {r:.2f}x")
    else:
        print("  [n/a] decord loop not measured (decord not installed)")


if __name__ == "__main__":
    main()
