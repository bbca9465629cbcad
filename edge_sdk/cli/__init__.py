"""Command line: ``edge-sdk detect SOURCE``, ``info``, ``bench``, ``serve``, ``mqtt`` (also ``python -m edge_sdk``).

SOURCE is an image, a folder (recursive), a video file, a camera index ("0") or a stream URL (rtsp://...).
Exit codes: 0 success; 1 a folder or stream run finished but some images were unreadable or skipped (each listed in
its records) or a live source was lost; 2 bad arguments, bad input, a bad model or an output that cannot be written
(one line on stderr); 3 an internal error (a bug; the traceback with ``-v``); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging

from ..errors import EdgeSDKError
from .errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, report
from .parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )  # stderr: stdout is for results
    try:
        prepare = getattr(args, "prepare", None)
        if prepare is not None:
            prepare(args)
        return args.run(args)
    except argparse.ArgumentTypeError as exc:
        parser.exit(EXIT_USAGE, f"edge-sdk {args.command}: error: {exc}\n")
    except (EdgeSDKError, ValueError, OSError) as exc:  # anticipated: bad input, model, argument or output
        report(exc, args.verbose)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one line, the traceback with -v
        report(exc, args.verbose, internal=True)
        return EXIT_INTERNAL
