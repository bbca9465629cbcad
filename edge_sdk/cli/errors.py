"""Exit codes of ``edge-sdk`` and how errors become one line on stderr."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import NoReturn

EXIT_OK = 0
EXIT_SOME_INPUTS_FAILED = 1  # a folder or stream run finished, but some images/frames could not be read
EXIT_USAGE = 2  # bad arguments, bad input, bad model, an output that cannot be written
EXIT_INTERNAL = 3  # a bug: an error nobody anticipated (the traceback with -v)
EXIT_INTERRUPTED = 130

log = logging.getLogger("edge_sdk.cli")


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (``edge-sdk detect: error: …``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def report(exc: BaseException, verbose: bool, internal: bool = False) -> None:
    """Print ``exc`` as one line; the traceback only with ``-v``."""
    if verbose:
        log.exception("%s", exc)
    prefix = "internal error" if internal else "error"
    detail = f"{type(exc).__name__}: {exc}" if internal else str(exc)
    hint = "" if verbose else " (run with -v for the traceback)" if internal else ""
    print(f"{prefix}: {detail}{hint}", file=sys.stderr)
