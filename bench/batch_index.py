"""Benchmark of batch indexing: videos per minute in one process, and on Ray with 1 and 2 workers.

Every row indexes the same generated folder into a fresh cache, so each row does all the work.
The in-process row (models loaded once, videos one after another) is the reference; the Ray
rows include starting the workers and loading their models, as a real batch does.

    python bench/batch_index.py                     # 8 videos of 60 s
    python bench/batch_index.py --videos 4 --duration 30
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def make_folder(root: Path, n: int, duration_s: float) -> list[str]:
    from longvid.synth.needles import Needle
    from longvid.synth.talk import TimedNeedle, haystack_parts, write_video

    paths = []
    for i in range(n):
        path = root / f"talk_{i:02d}.mp4"
        needles = [TimedNeedle(duration_s * 0.3, Needle("text", str(100 + i), text=f"Room {100 + i}")),
                   TimedNeedle(duration_s * 0.6, Needle("speech", "noon", text=f"Meeting {i} starts at noon."))]
        slides, clips, speech = haystack_parts(duration_s, needles, filler_slide_s=15.0, clip_s=5.0)
        write_video(path, duration_s=duration_s, slides=slides, clips=clips, speech=speech, fps=1.0, size=(480, 270))
        paths.append(str(path))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per video")
    args = ap.parse_args()

    import ray

    from longvid.batch import index_locally
    from longvid.batch.ray_backend import index_on_ray

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        videos = make_folder(root / "videos", args.videos, args.duration)
        print(f"{len(videos)} videos of {args.duration:.0f} s generated in {time.perf_counter() - t0:.1f} s")
        rows = {}
        rows["in process"] = index_locally(videos, cache_dir=root / "c0")
        for workers in (1, 2):
            rows[f"ray, {workers} worker(s)"] = index_on_ray(videos, workers=workers, cache_dir=root / f"c{workers}")
            ray.shutdown()
        ref = rows["in process"]
        print(f"{'run':<20} {'wall s':>8} {'videos/min':>11} {'x in-process':>13} {'failed':>7}")
        for name, r in rows.items():
            print(f"{name:<20} {r.wall_s:>8.1f} {r.videos_per_minute():>11.2f} "
                  f"{r.videos_per_minute() / ref.videos_per_minute():>13.2f} {r.count('failed'):>7}")
        hours = args.videos * args.duration / 3600
        best = max(rows.values(), key=lambda r: r.videos_per_minute())
        print(f"best: {hours / (best.wall_s / 3600):.1f} hours of video indexed per hour of wall time on this machine")


if __name__ == "__main__":
    main()
