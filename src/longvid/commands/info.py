"""``longvid info VIDEO``: what a video holds (duration, fps, size, rotation, streams)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="path to a video file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def info_dict(info) -> dict:
    import dataclasses

    d = dataclasses.asdict(info)
    d["display_size"] = list(info.display_size)
    return d


def format_info(info) -> str:
    from longvid.types import format_timestamp

    w, h = info.display_size
    lines = [
        f"{info.path}",
        f"  container  {info.container}  ({info.size_bytes / 1e6:.1f} MB)",
        f"  duration   {format_timestamp(info.duration_s)} ({info.duration_s:.3f} s, starts at {info.start_s:.3f} s)",
        f"  video      {info.codec} {w}x{h}"
        + (f" (coded {info.width}x{info.height}, rotated {info.rotation} deg)" if info.rotation else "")
        + (f" (pixel aspect {info.pixel_aspect:.3g})" if info.pixel_aspect != 1.0 else "")
        + f", {info.fps:.3f} fps{' (variable)' if info.is_variable_fps else ''}"
        + (f", {info.num_frames} frames" if info.num_frames else "")
        + (f", {info.num_keyframes} keyframes" if info.num_keyframes else ""),
    ]
    for a in info.audio:
        lang = f" [{a.language}]" if a.language else ""
        lines.append(f"  audio #{a.index}   {a.codec} {a.sample_rate} Hz, {a.channels} ch{lang}")
    for s in info.subtitles:
        lang = f" [{s.language}]" if s.language else ""
        lines.append(f"  subs #{s.index}    {s.codec}{lang}{'' if s.is_text else ' (bitmap)'}")
    if not info.audio:
        lines.append("  audio      none")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import json

    from longvid.io import probe

    info = probe(args.video)
    print(json.dumps(info_dict(info), indent=2) if args.json else format_info(info))
    return 0
