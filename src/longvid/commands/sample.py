"""``longvid sample VIDEO``: sample frames, print their timestamps and the scene changes.

Optionally saves each sampled frame as a JPEG named by its index and timestamp.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from longvid.io.options import ResizeMode, allowed_values
    from longvid.io.sampling import DEFAULT_FPS, SamplingMode

    parser.add_argument("video", help="path to a video file")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--fps", type=float, default=None, help=f"samples per second (default {DEFAULT_FPS:g})")
    how.add_argument("--num-frames", type=int, default=None, help="N frames spread evenly over the video")
    parser.add_argument("--max-frames", type=int, default=None, help="cap on the number of frames")
    parser.add_argument("--mode", choices=allowed_values(SamplingMode), default="exact",
                        help="exact (default): frame on screen at each time; nonref/keyframes: faster, near")
    parser.add_argument("--size", type=int, default=None, help="output side in pixels (default: native)")
    parser.add_argument("--resize", choices=allowed_values(ResizeMode), default=None,
                        help="how to make frames square when --size is given (default: pad, as LongVU)")
    parser.add_argument("--out", default=None, help="folder to save the sampled frames as JPEG")
    parser.add_argument("--scene-threshold", type=float, default=None,
                        help="mean grey-level difference (0-255) that counts as a scene change")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    import time
    from pathlib import Path

    from tqdm import tqdm

    from longvid.io import SamplingConfig, SceneConfig, SceneTracker, probe, sample_frames
    from longvid.types import format_timestamp

    info = probe(args.video)
    # fps=None with no --num-frames is the default rate (one place: longvid.io.sampling.DEFAULT_FPS)
    kw: dict = {"mode": args.mode, "max_frames": args.max_frames, "size": args.size,
                "fps": args.fps, "num_frames": args.num_frames}
    kw["resize"] = args.resize or (SamplingConfig.resize if args.size else "none")  # native size: no resize
    cfg = SamplingConfig(**kw)
    scene_cfg = SceneConfig() if args.scene_threshold is None else SceneConfig(threshold=args.scene_threshold)
    out_dir = Path(args.out) if args.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    tracker = SceneTracker(scene_cfg)
    times, targets, cuts, saved = [], [], [], []
    t0 = time.perf_counter()
    bar = tqdm(total=round(info.duration_s, 1), unit="s", desc="sampling", disable=args.json or not sys.stderr.isatty())

    def progress(done_s: float, total_s: float) -> None:
        bar.update(round(done_s, 1) - bar.n)

    for batch in sample_frames(args.video, cfg, progress, info=info):
        times.extend(batch.timestamps_s.tolist())
        targets.extend(batch.targets_s.tolist())
        for frame, idx, ts in zip(batch.frames, batch.indices, batch.timestamps_s):
            if tracker.update(frame):
                cuts.append(float(ts))
            if out_dir:
                from PIL import Image

                name = out_dir / f"frame_{int(idx):06d}_{ts:010.3f}s.jpg"
                Image.fromarray(frame).save(name, quality=90)
                saved.append(str(name))
    bar.close()
    elapsed = time.perf_counter() - t0
    result = {
        "video": info.path,
        "duration_s": info.duration_s,
        "mode": cfg.mode,
        "frames": len(times),
        "timestamps_s": [round(t, 6) for t in times],
        "targets_s": [round(t, 6) for t in targets],
        "max_offset_s": round(max((abs(a - b) for a, b in zip(times, targets)), default=0.0), 6),
        "scene_changes_s": [round(t, 6) for t in cuts],
        "seconds": round(elapsed, 3),
        "saved": saved,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    from longvid.commands.info import format_info

    print(format_info(info))
    print(f"sampled {len(times)} frames ({cfg.mode} mode) in {elapsed:.2f} s; "
          f"largest distance from a target {result['max_offset_s'] * 1000:.0f} ms")
    shown = ", ".join(format_timestamp(t) if info.duration_s >= 60 else f"{t:.2f}s" for t in times[:40])
    print(f"  timestamps  {shown}{' ...' if len(times) > 40 else ''}")
    cut_text = ", ".join(format_timestamp(t) if info.duration_s >= 60 else f"{t:.2f}s" for t in result["scene_changes_s"])
    print(f"  scene changes ({len(cuts)})  {cut_text or 'none'}")
    if saved:
        print(f"  saved {len(saved)} JPEGs to {out_dir}")
    return 0
