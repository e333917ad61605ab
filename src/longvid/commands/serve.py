"""``longvid serve``: an OpenAI-compatible API (``/v1/chat/completions``, ``/v1/videos``) and a web
page at ``/`` to upload a video, watch it index, ask, and jump to the cited moments.

Defaults live in ``longvid.serve.settings.ServeSettings``; options left out here keep them.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dataclasses import fields

    from longvid.serve.settings import API_KEY_ENV, DEFAULT_ENGINE, ServeSettings

    d = {f.name: f.default for f in fields(ServeSettings)}
    parser.add_argument("--host", help=f"address to listen on (default: {d['host']}; another needs --api-key)")
    parser.add_argument("--port", type=int, help=f"port (default: {d['port']}; 0: any free port)")
    parser.add_argument("--engine", help=f"registered engine answering questions (default: {DEFAULT_ENGINE})")
    parser.add_argument("--model", metavar="ID_OR_DIR", help="answer with this LongVU / LongVA checkpoint instead")
    parser.add_argument("--device", help="device for --model (default: cuda if available, else cpu)")
    parser.add_argument("--cache", metavar="DIR", help="indexes, uploads and job records "
                        "(default: $LONGVID_CACHE or ~/.cache/longvid)")
    parser.add_argument("--models-dir", metavar="DIR", help="converted offline models, if kept apart from --cache")
    parser.add_argument("--allow-dir", action="append", default=[], metavar="DIR",
                        help="file:// URLs may name videos inside DIR (repeatable; default: none, file:// refused)")
    parser.add_argument("--api-key", help=f"require this key on every API call (default: ${API_KEY_ENV}, else none)")
    parser.add_argument("--max-upload-mb", type=float,
                        help=f"largest upload in MiB (default: {d['max_upload_bytes'] / 2**20:.0f})")
    parser.add_argument("--max-duration", type=float, metavar="SECONDS",
                        help=f"longest video accepted (default: {d['max_duration_s']:.0f} s)")
    parser.add_argument("--index-workers", type=int, help=f"concurrent indexing jobs (default: {d['index_workers']})")
    parser.add_argument("--max-queued-jobs", type=int,
                        help=f"indexing jobs that may wait; more are refused (default: {d['max_queued_jobs']})")


def settings_from_args(args):
    import os

    from longvid.serve.settings import API_KEY_ENV, ServeSettings

    given = {
        "host": args.host, "port": args.port, "engine": args.engine, "model": args.model, "device": args.device,
        "cache_dir": args.cache, "models_dir": args.models_dir,
        "allow_dirs": tuple(args.allow_dir) or None,
        "api_key": args.api_key or os.environ.get(API_KEY_ENV) or None,
        "max_upload_bytes": None if args.max_upload_mb is None else int(args.max_upload_mb * 2**20),
        "max_duration_s": args.max_duration, "index_workers": args.index_workers,
        "max_queued_jobs": args.max_queued_jobs,
    }
    return ServeSettings(**{k: v for k, v in given.items() if v is not None})


def run(args) -> int:
    import logging

    from longvid.serve.server import serve_forever

    settings = settings_from_args(args)
    logging.getLogger("longvid").info("serving on http://%s:%d/", settings.host, settings.port)
    serve_forever(settings)
    return 0
