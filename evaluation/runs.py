"""Evaluation runs as library calls: typed options in, a JSON-ready summary out.

:func:`run_widerface` and :func:`run_fddb` run a detector over the images present on disk (or read existing
prediction files), score them with the official protocol and write into ``options.out``: the summary JSON, the
prediction files in the official format and a PNG of the curves. ``python -m evaluation`` parses its arguments
into these options; ``python -m evaluation report`` builds them directly.

    from evaluation.runs import DetectorOptions, WiderFaceRun, run_widerface
    summary = run_widerface(WiderFaceRun(root=Path("../shared/data/widerface"), out=Path("out/w"),
                                         detector=DetectorOptions(scale=640), limit=60))
    summary["ap"]  # {"easy": ..., "medium": ..., "hard": ...}
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .defaults import EVAL_NMS_THRESHOLD, EVAL_SCORE_THRESHOLD
from .detectors import Detector, describe_detector, reference_detector, run_detector, sdk_detector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorOptions:
    """Which detector produces the predictions. ``scale``: None runs at the image's own size, N letterboxes into
    N x N; ``tiles``: SDK only, tiled detection (global pass + native-resolution tiles of ``scale``) with this
    overlap; ``model``/``backend``/``precision``: SDK only (``precision`` None: the SDK's default)."""

    detector: Literal["sdk", "reference"] = "sdk"
    model: str | None = None
    backend: str = "auto"
    precision: str | None = None
    scale: int | None = None
    score_threshold: float = EVAL_SCORE_THRESHOLD
    nms_threshold: float = EVAL_NMS_THRESHOLD
    tiles: int | None = None


@dataclass(frozen=True)
class WiderFaceRun:
    """A WIDER FACE val run. ``predictions``: score the official-format files in this folder instead of running the
    detector; ``image_set`` ("disk" or "all" 3226 val images) applies only then. ``limit``: N images evenly spread
    over the set (:func:`spread`)."""

    root: Path
    out: Path
    detector: DetectorOptions = field(default_factory=DetectorOptions)
    limit: int | None = None
    predictions: Path | None = None
    progress: bool = True
    iou_mode: Literal["matlab", "float"] = "matlab"
    image_set: Literal["disk", "all"] = "disk"

    @property
    def results_file(self) -> Path:
        return self.out / "widerface_results.json"


@dataclass(frozen=True)
class FddbRun:
    """An FDDB run over the images on disk. ``annotation``: "ellipse" (official pixel overlap) or "rect" (its
    bounding rectangle); ``fp_points``: the false-positive counts to report TPR at (None: the protocol's)."""

    root: Path
    out: Path
    detector: DetectorOptions = field(default_factory=DetectorOptions)
    limit: int | None = None
    predictions: Path | None = None
    progress: bool = True
    annotation: Literal["ellipse", "rect"] = "ellipse"
    fp_points: tuple[int, ...] | None = None

    @property
    def results_file(self) -> Path:
        return self.out / "fddb_results.json"


EvaluationRun = WiderFaceRun | FddbRun


def spread(keys: Sequence[str], limit: int | None) -> list[str]:
    """``limit`` keys evenly spaced over ``keys`` (deterministic; covers all events), or all of them."""
    if limit is None or limit >= len(keys):
        return list(keys)
    if limit <= 0:
        raise ValueError("limit must be positive")
    idx = np.unique(np.round(np.linspace(0, len(keys) - 1, limit)).astype(int))
    return [keys[i] for i in idx]


def make_detector(options: DetectorOptions) -> Detector:
    """The detector ``options`` describe (imports edge_sdk or the reference package only now)."""
    if options.detector == "reference":
        if options.model or options.precision:
            log.warning("model/precision are ignored by the reference detector")
        return reference_detector(
            score_threshold=options.score_threshold, input_size=options.scale, nms_threshold=options.nms_threshold
        )
    return sdk_detector(
        model=options.model,
        backend=options.backend,
        precision=options.precision,
        input_size=options.scale,
        score_threshold=options.score_threshold,
        nms_threshold=options.nms_threshold,
        tile_overlap=options.tiles,
    )


def run_evaluation(options: EvaluationRun) -> dict[str, Any]:
    """:func:`run_widerface` or :func:`run_fddb`, by the type of ``options``."""
    return run_widerface(options) if isinstance(options, WiderFaceRun) else run_fddb(options)


def _versions() -> dict[str, str]:
    import cv2
    import scipy

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "opencv": cv2.__version__,
    }


def _settings(options: EvaluationRun, detector: Detector | None) -> dict[str, Any]:
    return {
        "root": str(options.root),
        "scale": "original" if options.detector.scale is None else options.detector.scale,
        "score_threshold": options.detector.score_threshold,
        "limit": options.limit,
        "detector": describe_detector(detector)
        if detector is not None
        else {"detector": "prediction files", "predictions": str(options.predictions)},
        "versions": _versions(),
    }


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


@dataclass
class _Clock:
    """When a run started, finished detecting and finished scoring, and the seconds inside the detector."""

    start: float = field(default_factory=time.perf_counter)
    detected: float = 0.0
    scored: float = 0.0
    detect_seconds: float = 0.0

    def elapsed(self) -> dict[str, float | None]:
        return {
            "total": None,
            "detection": round(self.detect_seconds, 3),
            "images_and_detection": round(self.detected - self.start, 3),
            "evaluation": round(self.scored - self.detected, 3),
        }


def _detect(
    options: EvaluationRun, paths: dict[str, Path], clock: _Clock, desc: str
) -> tuple[Detector, dict[str, np.ndarray], dict[str, tuple[int, int]]]:
    """Run the detector of ``options`` over ``paths``: the detector, predictions and image sizes."""
    detector = make_detector(options.detector)
    predictions, sizes, clock.detect_seconds = run_detector(detector, paths, progress=options.progress, desc=desc)
    return detector, predictions, sizes


def _write_summary(
    options: EvaluationRun,
    head: dict[str, Any],
    detector: Detector | None,
    clock: _Clock,
    files: dict[str, str],
    result: dict[str, Any],
) -> dict[str, Any]:
    """The one summary layout of both benchmarks: ``head`` (the headline figures), the settings, timings and files,
    then the full result; written to ``options.results_file``."""
    summary = {
        **head,
        "settings": _settings(options, detector),
        "elapsed_seconds": clock.elapsed(),
        "files": files,
        **result,
    }
    summary["elapsed_seconds"]["total"] = round(time.perf_counter() - clock.start, 3)
    options.results_file.write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n")
    return summary


def run_widerface(options: WiderFaceRun) -> dict[str, Any]:
    """Score WIDER FACE val (AP easy/medium/hard, in ``options.iou_mode`` and the other IoU mode) and write the
    outputs; returns the summary written to ``options.results_file``."""
    from .plots import plot_widerface_pr
    from .predictions import read_widerface_predictions, write_widerface_predictions
    from .widerface import evaluate_widerface, image_path, list_widerface_images, load_widerface_gt

    clock = _Clock()
    gt = load_widerface_gt(options.root)
    detector = None
    if options.predictions is not None:
        pool = list(gt.image_keys) if options.image_set == "all" else list_widerface_images(options.root, gt=gt)
        keys = spread(pool, options.limit)
        predictions = read_widerface_predictions(options.predictions, keys)
    else:
        pool = list_widerface_images(options.root, gt=gt)
        if not pool:
            raise FileNotFoundError(f"no WIDER val images under {options.root}/WIDER_val/images")
        keys = spread(pool, options.limit)
        detector, predictions, _ = _detect(options, {k: image_path(options.root, k) for k in keys}, clock, "widerface")
    clock.detected = time.perf_counter()
    result = evaluate_widerface(predictions, gt, images=keys, iou_mode=options.iou_mode)
    other_mode = "float" if options.iou_mode == "matlab" else "matlab"
    other = evaluate_widerface(predictions, gt, images=keys, iou_mode=other_mode)
    clock.scored = time.perf_counter()

    options.out.mkdir(parents=True, exist_ok=True)
    pred_dir = options.out / "widerface_predictions"
    if options.predictions is None:
        write_widerface_predictions(predictions, pred_dir)
    png = plot_widerface_pr(result, options.out / "widerface_pr.png")
    subset = ", evenly spread subset" if options.limit is not None and len(keys) < len(pool) else ""
    on_disk = options.image_set == "disk" or options.predictions is None
    head = {
        "benchmark": "widerface",
        "split": "val",
        "ap": {k: _finite(v) for k, v in result.ap.items()},
        f"ap_{other_mode}_iou": {k: _finite(v) for k, v in other.ap.items()},
        "images_used": (
            f"{len(keys)} of {len(gt.image_keys)} val images "
            f"({'present on disk' if on_disk else 'all'}{subset}); "
            "recall counts only the faces of these images"
        ),
    }
    files = {"predictions": str(pred_dir if options.predictions is None else options.predictions), "pr_curve": str(png)}
    return _write_summary(options, head, detector, clock, files, result.to_dict())


def run_fddb(options: FddbRun) -> dict[str, Any]:
    """Score FDDB (discrete and continuous TPR at fixed false-positive counts, with ``options.annotation`` and the
    other region) and write the outputs; returns the summary written to ``options.results_file``."""
    from .fddb import (
        DEFAULT_FP_POINTS,
        evaluate_fddb,
        image_path,
        list_fddb_images,
        load_fddb_annotations,
        read_image_sizes,
    )
    from .plots import plot_fddb_roc
    from .predictions import read_fddb_predictions, write_fddb_predictions

    clock = _Clock()
    ann = load_fddb_annotations(options.root)
    pool = list_fddb_images(options.root, ann)
    if not pool:
        raise FileNotFoundError(f"no FDDB images under {options.root}/originalPics")
    keys = spread(pool, options.limit)
    detector = None
    if options.predictions is not None:
        found = read_fddb_predictions(options.predictions)
        predictions = {k: found.get(k, np.zeros((0, 5))) for k in keys}
        sizes = read_image_sizes(options.root, keys)
    else:
        detector, predictions, sizes = _detect(options, {k: image_path(options.root, k) for k in keys}, clock, "fddb")
    clock.detected = time.perf_counter()
    points = options.fp_points or DEFAULT_FP_POINTS
    result = evaluate_fddb(predictions, ann, sizes, images=keys, annotation=options.annotation, fp_points=points)
    other_mode = "rect" if options.annotation == "ellipse" else "ellipse"
    other = evaluate_fddb(predictions, ann, sizes, images=keys, annotation=other_mode, fp_points=points)
    clock.scored = time.perf_counter()

    options.out.mkdir(parents=True, exist_ok=True)
    pred_dir = options.out / "fddb_predictions"
    if options.predictions is None:
        write_fddb_predictions(predictions, ann.folds, pred_dir, order=keys)
    png = plot_fddb_roc(result, options.out / "fddb_roc.png")
    folds = ", ".join(f"fold {f:02d}: {n}" for f, n in sorted(result.folds.items()))
    head = {
        "benchmark": "fddb",
        "tpr_at_fp_discrete": {str(k): v for k, v in result.tpr_at_fp["discrete"].items()},
        "tpr_at_fp_continuous": {str(k): v for k, v in result.tpr_at_fp["continuous"].items()},
        f"tpr_at_fp_discrete_{other_mode}": {str(k): v for k, v in other.tpr_at_fp["discrete"].items()},
        "images_used": (
            f"{len(keys)} of {len(ann.image_keys)} FDDB images (those present on disk"
            f"{', evenly spread subset' if len(keys) < len(pool) else ''}; {folds}); "
            "TPR counts only the faces of these images"
        ),
    }
    files = {
        "predictions": str(pred_dir if options.predictions is None else options.predictions),
        "roc_curve": str(png),
    }
    return _write_summary(options, head, detector, clock, files, result.to_dict())


def _f4(value: float | None) -> str:
    return "nan" if value is None else f"{value:.4f}"


def summary_text(summary: dict[str, Any], results_file: Path) -> str:
    """Two lines for a person: the headline figures of a run and where its results went."""
    seconds = summary["elapsed_seconds"]
    if summary["benchmark"] == "widerface":
        mode = summary["iou_mode"]
        other_mode = "float" if mode == "matlab" else "matlab"
        ap, other = summary["ap"], summary[f"ap_{other_mode}_iou"]
        headline = (
            f"WIDER FACE val ({summary['num_images']} images, iou_mode={mode}): "
            f"AP easy {_f4(ap['easy'])}  medium {_f4(ap['medium'])}  hard {_f4(ap['hard'])}   "
            f"[{other_mode}: {' / '.join(_f4(other[s]) for s in ('easy', 'medium', 'hard'))}]"
        )
    else:
        d, c = summary["tpr_at_fp_discrete"], summary["tpr_at_fp_continuous"]
        headline = (
            f"FDDB ({summary['num_images']} images, {summary['num_faces']} faces, {summary['annotation']}): "
            "TPR@FP " + "  ".join(f"{k}: {_f4(d[k])}/{_f4(c[k])}" for k in d) + "  (discrete/continuous)"
        )
    return (
        f"{headline}\nelapsed {seconds['total']:.1f} s (detection {seconds['detection']:.1f} s, "
        f"evaluation {seconds['evaluation']:.1f} s) -> {results_file}"
    )
