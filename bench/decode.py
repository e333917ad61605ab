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
    python bench/decode.py --corpus        # a dozen realistic encodings, one row per file
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


# ----------------------------------------------------------------------------- the corpus (--corpus)
# One row per realistic encoding. Each is (name, lavfi source or "clip:NAME", fps, (w, h), encoder
# args, audio?, why it may miss the goal or None). Generated content gets temporal noise so the
# bitrate is that of camera footage, not of a flat test card.
CORPUS_S = int(os.environ.get("LONGVID_CORPUS_S", "60"))
_X264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
CORPUS: list[tuple[str, str, int, tuple[int, int], list[str], bool, str | None]] = [
    ("h264_360p10_veryfast_crf30_g10s", "testsrc2", 10, (640, 360),
     _X264 + ["-preset", "veryfast", "-crf", "30", "-g", "100"], True, None),
    ("h264_360p25_medium_g1s", "mandelbrot", 25, (640, 360),
     _X264 + ["-preset", "medium", "-g", "25"], False, None),
    ("h264_480p24_fast_g2s", "testsrc2", 24, (854, 480),
     _X264 + ["-preset", "fast", "-g", "48"], True, None),
    ("h264_720p30_superfast_g5s", "testsrc2", 30, (1280, 720),
     _X264 + ["-preset", "superfast", "-g", "150"], True, None),
    ("h264_720p60_veryfast_g4s", "testsrc2", 60, (1280, 720),
     _X264 + ["-preset", "veryfast", "-g", "240"], False, None),
    ("h264_1080p30_veryfast_g10s", "testsrc2", 30, (1920, 1080),
     _X264 + ["-preset", "veryfast", "-g", "300"], True, None),
    ("h264_720p25_medium_bbb_g10s", "clip:bigbuckbunny", 25, (1280, 720),
     _X264 + ["-preset", "medium", "-g", "250"], True, None),
    ("h264_272p25_fast_bikes_g2s", "clip:bikes", 25, (640, 272),
     _X264 + ["-preset", "fast", "-g", "50"], False, None),
    ("hevc_720p25_fast_g5s", "testsrc2", 25, (1280, 720),
     ["-c:v", "libx265", "-preset", "fast", "-g", "125", "-pix_fmt", "yuv420p", "-x265-params", "log-level=error"],
     True, None),
    ("vp9_480p30_good_g4s", "testsrc2", 30, (854, 480),
     ["-c:v", "libvpx-vp9", "-deadline", "good", "-cpu-used", "5", "-row-mt", "1", "-b:v", "1M", "-g", "120"],
     False, None),
    ("av1_480p30_svt10_g5s", "testsrc2", 30, (854, 480),
     ["-c:v", "libsvtav1", "-preset", "10", "-g", "150", "-pix_fmt", "yuv420p"], True, None),
    ("h264_360p30_ultrafast_g10s", "testsrc2", 30, (640, 360),
     _X264 + ["-preset", "ultrafast", "-g", "300"], False,
     "ultrafast has no B-frames: inside a 10 s GOP every frame is a reference, so an exact decode decodes them all"),
    ("h264_360p30_allintra", "testsrc2", 30, (640, 360),
     _X264 + ["-preset", "veryfast", "-g", "1"], False, None),
]


def _encoder_of(args: list[str]) -> str:
    return args[args.index("-c:v") + 1]


def make_corpus_file(name: str, source: str, fps: int, wh: tuple[int, int], enc: list[str], audio: bool) -> Path:
    out = CACHE / "corpus" / f"{name}_{CORPUS_S}s{'_aac' if audio else ''}.{'webm' if 'vp9' in name else 'mp4'}"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    w, h = wh
    if source.startswith("clip:"):
        from longvid.synth.clips import packaged_clips

        clip = next(p for p in packaged_clips() if Path(p).stem == source[5:])
        inp = ["-stream_loop", "-1", "-i", str(clip)]
        vf = f"scale={w}:{h},fps={fps}"
    else:
        inp = ["-f", "lavfi", "-i", f"{source}=size={w}x{h}:rate={fps}"]
        vf = "noise=alls=4:allf=t"  # camera-like grain: realistic bitrates and decode cost
    aud = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"] if audio else []
    acodec = (["-c:a", "libopus" if out.suffix == ".webm" else "aac", "-b:a", "64k"] if audio else ["-an"])
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *inp, *aud, "-map", "0:v", *(["-map", "1:a"] if audio else []),
         "-vf", vf, "-t", str(CORPUS_S), *enc, *acodec, str(tmp)],
        check=True,
    )
    tmp.rename(out)
    return out


def _measure_ffmpeg(video: Path) -> tuple[float, float]:
    """(wall s, CPU s) of ``ffmpeg -i f -an -f null -`` with its default threads."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(["ffmpeg", "-v", "error", "-nostdin", "-i", str(video), "-an", "-f", "null", "-"])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"ffmpeg failed on {video}")
    return wall, usage.ru_utime + usage.ru_stime


def _measure_longvid(video: Path, size: int | None) -> tuple[float, float, list[float], list[float]]:
    """(wall s, CPU s of this process, frame times, target times) of exact 1 fps sampling (probe included)."""
    from longvid.io import SamplingConfig, sample_frames

    cfg = SamplingConfig(fps=1.0, size=size) if size else SamplingConfig(fps=1.0, resize="none")
    c0, t0 = time.process_time(), time.perf_counter()  # process_time counts every thread (FFmpeg's too)
    times: list[float] = []
    targets: list[float] = []
    for batch in sample_frames(video, cfg):
        times.extend(batch.timestamps_s.tolist())
        targets.extend(batch.targets_s.tolist())
    return time.perf_counter() - t0, time.process_time() - c0, times, targets


def _full_decode_times(video: Path) -> list[float]:
    """Every frame's time from a plain full decode: the reference for exactness."""
    import av

    with av.open(str(video)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        return sorted(float(f.time) for f in c.decode(s))


def _exact_misses(times: list[float], targets: list[float], ref: list[float]) -> int:
    """Targets whose frame is not the last frame of a full decode with time <= target."""
    import bisect

    bad = 0
    for got, t in zip(times, targets):
        j = max(0, bisect.bisect_right(ref, t + 1e-6) - 1)
        bad += abs(ref[j] - got) > 1e-4
    return bad + abs(len(times) - len(targets))


def _median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def corpus(repeat: int, size: int | None, only: list[str] | None) -> None:
    if not shutil.which("ffmpeg"):
        sys.exit("ffmpeg is needed to build the corpus")
    have = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    print(f"corpus: {CACHE / 'corpus'} ({CORPUS_S} s per file); exact 1 fps sampling "
          f"({'size=%d pad' % size if size else 'native size'}) vs `ffmpeg -i f -an -f null -`, "
          f"median of {repeat}, run side by side in this process, CPU {os.cpu_count()} cores")
    print()
    print("| file | codec | ffmpeg wall s | ffmpeg CPU s | longvid wall s | longvid CPU s | x wall | x CPU | exact | goal <= 0.85x |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, source, fps, wh, enc, audio, why in CORPUS:
        if only and not any(o in name for o in only):
            continue
        if f" {_encoder_of(enc)} " not in have:
            print(f"| {name} | - | | | | | | | | skipped: no {_encoder_of(enc)} encoder in this ffmpeg |")
            continue
        video = make_corpus_file(name, source, fps, wh, enc, audio)
        ff, lv = [], []
        for _ in range(repeat):  # interleaved, so load changes hit both sides alike
            ff.append(_measure_ffmpeg(video))
            w, c, times, targets = _measure_longvid(video, size)
            lv.append((w, c))
        misses = _exact_misses(times, targets, _full_decode_times(video))
        fw, fc = _median([x[0] for x in ff]), _median([x[1] for x in ff])
        lw, lc = _median([x[0] for x in lv]), _median([x[1] for x in lv])
        rw, rc = lw / fw, lc / fc
        met = rw <= 0.85 and rc <= 0.85
        verdict = "met" if met else ("MISSED" + (f": {why}" if why else ""))
        codec = _encoder_of(enc) + (" +audio" if audio else "")
        print(f"| {name} | {codec} | {fw:.2f} | {fc:.2f} | {lw:.2f} | {lc:.2f} | {rw:.2f} | {rc:.2f} "
              f"| {'yes' if misses == 0 else f'NO ({misses} wrong)'} | {verdict} |", flush=True)


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
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs per method: best kept (default 1); --corpus: median kept (default 3)")
    ap.add_argument("--corpus", action="store_true", help="build the corpus of encodings and print one row per file")
    ap.add_argument("--only", nargs="*", default=None, help="--corpus: only files whose name contains one of these")
    ap.add_argument("--size", type=int, default=None, help="--corpus: output side (pad); default native size")
    ap.add_argument("--child", nargs=3, metavar=("METHOD", "VIDEO", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.corpus:
        corpus(max(1, args.repeat or 3), args.size, args.only)
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
        for _ in range(max(1, args.repeat or 1)):
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
