"""The ``longvid`` command. Subcommands are imported lazily: ``longvid info`` never loads torch.

Each subcommand lives in ``longvid.commands.<name>`` and defines ``add_arguments(parser)`` and
``run(args) -> int``. Those modules import only the standard library at top level.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# name -> (module, one-line help). Order is the order of ``longvid --help``.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("longvid.commands.demo", "make a demo long video and run the main job on it (offline)"),
    "info": ("longvid.commands.info", "probe a video: duration, streams, fps, rotation"),
    "sample": ("longvid.commands.sample", "sample frames and report timestamps and scene changes"),
    "ask": ("longvid.commands.ask", "ask a question about a video; the answer cites moments"),
    "search": ("longvid.commands.search", "find moments matching a text query (no LLM)"),
    "index": ("longvid.commands.index", "index videos (a file or a folder) for later questions"),
    "niah": ("longvid.commands.niah", "run the V-NIAH needle-in-a-haystack benchmark"),
    "eval": ("longvid.commands.eval", "evaluate on a long-video benchmark from local files"),
    "serve": ("longvid.commands.serve", "serve an OpenAI-compatible API and a web page to index and ask"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    from longvid import __version__

    parser = argparse.ArgumentParser(prog="longvid", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"longvid {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Only the chosen subcommand's module is imported; the others get a help line only.
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            mod = importlib.import_module(module)
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    # default: longvid's own INFO lines, other libraries' warnings only; -v: everyone's INFO; -vv: DEBUG
    root_level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=logging.WARNING if args.quiet else root_level,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.quiet:
        logging.getLogger("longvid").setLevel(min(root_level, logging.INFO))
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    from longvid.errors import LongvidError

    try:
        return int(args._run(args) or 0)
    except LongvidError as exc:
        print(f"longvid {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
