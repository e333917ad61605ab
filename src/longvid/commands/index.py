"""``longvid index PATH...``: index video files or whole folders, resumably.

Each file is indexed once per settings (found again by content, not by name); an interrupted run
picks up where it stopped. A file that cannot be read is reported and skipped; the exit status
is 1 when any file failed.
"""

from __future__ import annotations

import argparse

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from longvid.commands.ask import add_common

    parser.add_argument("paths", nargs="+", help="video files or folders (searched recursively)")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="index on Ray: a cluster address (e.g. ray://head:10001 or auto), or none for a local "
                             "Ray on this machine (needs longvid[ray])")
    parser.add_argument("--workers", type=int, default=2, help="with --ray: indexing workers (default 2)")
    add_common(parser)


def collect(paths: list[str]) -> list[str]:
    from pathlib import Path

    from longvid.errors import VideoNotFoundError

    files: list[str] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(str(f) for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
        elif p.exists():
            files.append(str(p))
        else:
            raise VideoNotFoundError(f"{str(p)!r} does not exist: give a video file or a folder of videos")
    return files


def run(args) -> int:
    import json
    import sys

    from longvid.commands.ask import make_engine
    from longvid.errors import LongvidError

    files = collect(args.paths)
    if not files:
        print(f"no video files ({', '.join(VIDEO_SUFFIXES)}) under {' '.join(args.paths)}", file=sys.stderr)
        return 1
    if args.ray is not None:
        return run_on_ray(args, files)
    engine = make_engine(args)
    report, failed = [], 0
    for n, f in enumerate(files, 1):
        engine.indexer.progress.prefix = f"[{n}/{len(files)}] " if len(files) > 1 else ""
        try:
            idx = engine.index(f)
        except LongvidError as exc:
            failed += 1
            report.append({"video": f, "error": str(exc)})
            print(f"{f}: error: {exc}", file=sys.stderr)
            continue
        m = idx.manifest
        report.append({"video": f, "index": str(idx.folder), "segments": m["num_segments"], "speech": m["speech"],
                       "duration_s": m["duration_s"], "timings_s": m.get("timings_s", {})})
        if not args.json:
            print(f"{f}: {m['num_segments']} segments, speech: {m['speech']} -> {idx.folder}")
        engine.indexer.progress.close()
    if args.json:
        print(json.dumps(report, indent=1))
    return 1 if failed else 0


def run_on_ray(args, files: list[str]) -> int:
    """``--ray``: one job per video on a pool of Ray workers; a summary table at the end."""
    import json
    import sys
    from dataclasses import asdict

    from tqdm import tqdm

    from longvid.batch.ray_backend import index_on_ray

    bar = tqdm(total=len(files), unit="video", desc="indexing", disable=args.no_progress or not sys.stderr.isatty())

    def on_outcome(outcome, done, total):
        bar.update(1)
        bar.set_postfix_str(f"{outcome.status}: {outcome.video[-40:]}")
        if outcome.status == "failed":
            tqdm.write(f"{outcome.video}: error: {outcome.error}", file=sys.stderr)

    from longvid.commands.ask import offline_config

    report = index_on_ray(files, workers=args.workers, address=args.ray or None, cache_dir=args.cache,
                          settings=offline_config(args).index, on_outcome=on_outcome)
    bar.close()
    print(json.dumps([asdict(o) for o in report.outcomes], indent=1) if args.json else report.table())
    return 1 if report.failed else 0
