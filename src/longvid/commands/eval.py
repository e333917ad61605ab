"""``longvid eval``: run an engine on a long-video benchmark from its published local files.

Standard library only at import time; the work is imported inside ``run``.
"""

from __future__ import annotations

import argparse

from longvid.commands.options import add_engine_arguments

BENCHMARK_NAMES = ("videomme", "mlvu", "longvideobench", "egoschema", "vnbench")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("benchmark", help=f"benchmark name: {', '.join(BENCHMARK_NAMES)} (or a plugin's)")
    p.add_argument("--root", required=True, help="folder holding the benchmark's published files and videos")
    add_engine_arguments(p)
    p.add_argument("--subtitles", action="store_true", help="put subtitles in the prompt (Video-MME w/ subs)")
    p.add_argument("--limit", type=int, help="only the first N questions (quick runs)")
    p.add_argument("--out", help="output folder (default: eval_out/<benchmark>); rerun to resume")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from longvid.commands.options import parse_options
    from longvid.engines import create_engine
    from longvid.eval.benchmarks.runner import run_benchmark

    options = parse_options(args.engine_option)
    engine = create_engine(args.engine, **options)
    out = Path(args.out or Path("eval_out") / args.benchmark)

    from tqdm import tqdm

    bar = tqdm(unit="q")

    def progress(done: int, total: int, rec: dict) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    res = run_benchmark(
        engine,
        args.benchmark,
        args.root,
        out,
        subtitles=args.subtitles,
        limit=args.limit,
        engine_options=options,
        progress=progress,
    )
    bar.close()
    acc = res["accuracy"]
    print(
        f"{args.benchmark}: accuracy {acc:.3f} ({res['correct']}/{res['total']}), errors {res['errors']}"
        if acc is not None
        else f"{args.benchmark}: no questions"
    )
    for key, table in res["by"].items():
        for name, row in table.items():
            print(f"  {key} {name}: {row['accuracy']:.3f} ({row['correct']}/{row['total']})")
    print(f"results: {out / 'results.json'}")
    return 0
