"""``longvid niah``: V-NIAH on any engine; per-cell JSON, average and heatmap in --out.

Standard library only at import time; the work is imported inside ``run``.
"""

from __future__ import annotations

import argparse

from longvid.commands.options import add_engine_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_engine_arguments(p)
    p.add_argument("--haystack", required=True, help="haystack video (over an hour for the full grid)")
    p.add_argument(
        "--build-haystack",
        type=float,
        metavar="SECONDS",
        help="if --haystack does not exist, build one this long from packaged clips and scenes",
    )
    p.add_argument(
        "--needles",
        required=True,
        help="needle folder with dataset.json (LongVA layout: path, prompt, answer)",
    )
    p.add_argument(
        "--generate-needles",
        action="store_true",
        help="if --needles has no dataset.json, write generated needles there (image, text, speech, "
        "multi-needle, multi-hop, multiple choice)",
    )
    p.add_argument(
        "--needle-kinds",
        default="image,text,speech",
        help="with --generate-needles: single-needle kinds to write, from image,text,speech "
        "(default all); multi-needle, multi-hop and multiple-choice sets are added only with all three",
    )
    p.add_argument(
        "--frames", default="200:3000:200", help="haystack lengths in frames: '200,400' or 'a:b:step'"
    )
    p.add_argument("--depths", default="0:1:0.2", help="needle depths in [0,1]: '0,0.5,1' or 'a:b:step'")
    p.add_argument("--fps", type=float, default=None, help="haystack sampling rate (default: LongVA's 1, NiahGrid.fps)")
    p.add_argument(
        "--adapter",
        choices=("auto", "video", "features"),
        default="auto",
        help="video: needles rendered into cell videos (any engine); features: haystack encoded "
        "once, needle frames inserted (video-LLMs); auto: features when the engine allows",
    )
    p.add_argument(
        "--scoring",
        choices=("generation", "teacher_forced"),
        default="generation",
        help="teacher_forced = LongVA's PPL-based exact match (engines with logits)",
    )
    p.add_argument("--out", default="niah_out", help="output folder (rerun to resume)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from longvid.commands.options import parse_options
    from longvid.engines import create_engine
    from longvid.errors import LongvidError
    from longvid.eval.niah import (
        FeatureEngineAdapter,
        NiahGrid,
        VideoEngineAdapter,
        load_needles,
        run_niah,
        write_generated_needles,
    )
    from longvid.eval.niah.adapters import feature_engine_for
    from longvid.eval.niah.grid import parse_list

    kinds = tuple(k.strip() for k in args.needle_kinds.split(",") if k.strip())
    if not kinds or set(kinds) - {"image", "text", "speech"}:  # checked before any haystack is built
        raise LongvidError(f"--needle-kinds {args.needle_kinds!r}: choose from image, text, speech")
    haystack = Path(args.haystack)
    if not haystack.exists() and args.build_haystack:
        from longvid.eval.haystack import HaystackConfig, build_haystack

        print(f"building a {args.build_haystack:g} s haystack at {haystack} ...")
        build_haystack(haystack, HaystackConfig(duration_s=args.build_haystack))
    if args.generate_needles and not (Path(args.needles) / "dataset.json").exists():
        full = set(kinds) == {"image", "text", "speech"}
        write_generated_needles(args.needles, kinds=kinds, multi=full, multihop=full, choice=full)
    needle_sets = load_needles(args.needles)
    rate = {} if args.fps is None else {"fps": args.fps}  # the grid's own default otherwise
    grid = NiahGrid(frames=parse_list(args.frames, int), depths=parse_list(args.depths, float), **rate)
    engine = create_engine(args.engine, **parse_options(args.engine_option))
    feature_engine = feature_engine_for(engine) if args.adapter != "video" else None
    if args.adapter == "features" and feature_engine is None:
        raise LongvidError(f"engine {args.engine!r} has no feature-level access: use --adapter video")
    use_features = feature_engine is not None
    adapter = (
        FeatureEngineAdapter(feature_engine, scoring=args.scoring)
        if use_features
        else VideoEngineAdapter(engine)
    )
    if args.scoring == "teacher_forced" and not use_features:
        print("longvid niah: error: teacher-forced scoring needs an engine with logits (--adapter features)")
        return 2

    from tqdm import tqdm

    bar = tqdm(total=len(needle_sets) * len(grid.cells()), unit="cell")

    def progress(done: int, total: int, result) -> None:
        bar.n = done
        bar.set_postfix_str(
            f"N={result.frames} d={result.depth:.2f} {result.needle}: {'ok' if result.correct else 'x'}"
        )
        bar.refresh()

    summary = run_niah(adapter, haystack, needle_sets, grid, args.out, progress=progress)
    bar.close()
    avg = summary["average_accuracy"]
    print(f"average accuracy: {avg:.3f}" if avg is not None else "no cells")
    for k, v in summary["by_frames"].items():
        print(f"  frames {k:>6}: {v:.3f}")
    print(f"results: {Path(args.out) / 'results.json'}")
    if summary.get("heatmap"):
        print(f"heatmap: {summary['heatmap']}")
    return 0
