"""``longvid ask VIDEO QUESTION``: answer a question, citing the moments it rests on."""

from __future__ import annotations

import argparse


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache", metavar="DIR", help="index/model cache folder (default: $LONGVID_CACHE or ~/.cache/longvid)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the index even if one exists")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="a video file")
    parser.add_argument("question", nargs="+", help="the question (quote it, or several words)")
    parser.add_argument("--engine", default="offline", help="engine name (default: offline)")
    add_common(parser)


def make_engine(args, name: str = "offline"):
    import sys

    from longvid.engines import create_engine
    from longvid.offline.report import TqdmProgress

    try:  # the CLI draws its own bars; model loaders' per-tensor bars are noise here
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    progress = TqdmProgress(disable=args.no_progress or not sys.stderr.isatty() and args.json)
    if name == "offline":
        return create_engine(name, cache_dir=args.cache, progress=progress, rebuild=args.rebuild)
    return create_engine(name)


def run(args) -> int:
    import json

    from longvid.offline.report import format_answer, to_json

    engine = make_engine(args, args.engine)
    answer = engine.ask(args.video, " ".join(args.question))
    print(json.dumps(to_json(answer), indent=1) if args.json else format_answer(answer))
    return 0
