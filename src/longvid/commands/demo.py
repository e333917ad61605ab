"""``longvid demo``: make a demo long video, index it with progress, ask it questions (offline)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from longvid.commands.ask import add_common

    add_common(parser)
    parser.add_argument("--question", action="append", help="ask this instead of the built-in questions (repeatable)")


def run(args) -> int:
    import json
    import time

    from longvid.commands.ask import make_engine
    from longvid.offline.cache import cache_root
    from longvid.offline.report import format_answer, to_json
    from longvid.synth.demo import build_demo

    t0 = time.perf_counter()
    demo = build_demo(cache_root(args.cache))
    if not args.json:
        print(f"demo video: {demo.path} ({'slides, clips and speech' if demo.has_speech else 'visual only: espeak-ng is not installed, so no speech'})")
        print("indexing (once; later runs reuse the index)...", flush=True)
    engine = make_engine(args)
    idx = engine.index(demo.path)
    engine.indexer.progress.close()
    if not args.json:
        m = idx.manifest
        print(f"index: {m['num_segments']} segments, {m['ocr_reads']} OCR reads, speech: {m['speech']} -> {idx.folder}\n")
    out = []
    for q in args.question or demo.questions:
        ans = engine.ask(demo.path, q)
        if args.json:
            out.append(to_json(ans))
        else:
            print(format_answer(ans) + "\n", flush=True)
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"demo done in {time.perf_counter() - t0:.0f} s")
    return 0
