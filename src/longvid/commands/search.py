"""``longvid search VIDEO QUERY``: the moments that best match a text query (no LLM)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from longvid.commands.ask import add_common

    parser.add_argument("video", help="a video file")
    parser.add_argument("query", nargs="+", help="what to look for")
    parser.add_argument("-k", type=int, default=5, help="how many moments (default 5)")
    add_common(parser)


def run(args) -> int:
    import json

    from longvid.commands.ask import make_engine
    from longvid.errors import LongvidError
    from longvid.offline.report import format_evidence, to_json

    if args.k < 1:
        raise LongvidError(f"-k must be >= 1, got {args.k}")
    results = make_engine(args).search(args.video, " ".join(args.query), args.k)
    if args.json:
        print(json.dumps(to_json(results), indent=1))
    elif not results:
        print("no matching moment")
    else:
        print("\n".join(format_evidence(e) for e in results))
    return 0
