"""Accuracy side by side: every subject run over the same WIDER FACE val images (official protocol, AP Easy/Medium/
Hard) and FDDB images (official protocol, discrete and continuous TPR at fixed false-positive counts), scored by the
:mod:`evaluation` package. Subjects are built with ``purpose="accuracy"`` (low score thresholds)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.runs import spread

from .subjects import Subject, row_identity

log = logging.getLogger(__name__)


@dataclass
class AccuracyData:
    """The images and ground truth every subject is scored on (either dataset may be absent)."""

    widerface_root: Path | None = None
    gt: Any = None
    wider_keys: list[str] = field(default_factory=list)
    wider_pool: int = 0
    fddb_root: Path | None = None
    annotations: Any = None
    fddb_keys: list[str] = field(default_factory=list)
    fddb_pool: int = 0
    problems: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "widerface": None
            if self.gt is None
            else {
                "root": str(self.widerface_root),
                "split": "val",
                "images": len(self.wider_keys),
                "images_on_disk": self.wider_pool,
                "official_val_images": len(self.gt.image_keys),
                "faces": {s: self.gt.num_faces(s, self.wider_keys) for s in self.gt.settings},
                "selection": "evenly spread over the images on disk (as python -m evaluation --limit)",
            },
            "fddb": None
            if self.annotations is None
            else {
                "root": str(self.fddb_root),
                "images": len(self.fddb_keys),
                "images_on_disk": self.fddb_pool,
                "faces": self.annotations.num_faces(self.fddb_keys),
                "annotation": "ellipse (official)",
            },
            "problems": self.problems,
        }


def load_data(data_root: Path, wider_limit: int | None, fddb_limit: int | None) -> AccuracyData:
    """Ground truth and the evaluated image lists under ``data_root`` (``widerface/``, ``fddb/``)."""
    from evaluation import list_fddb_images, list_widerface_images, load_fddb_annotations, load_widerface_gt

    data = AccuracyData()
    wider = Path(data_root) / "widerface"
    try:
        data.gt = load_widerface_gt(wider)
        pool = list_widerface_images(wider, gt=data.gt)
        data.widerface_root, data.wider_pool, data.wider_keys = wider, len(pool), spread(pool, wider_limit)
    except (FileNotFoundError, OSError, ValueError) as exc:
        data.gt = None
        data.problems.append(f"WIDER FACE not usable under {wider}: {exc}")
    fddb = Path(data_root) / "fddb"
    try:
        data.annotations = load_fddb_annotations(fddb)
        pool = list_fddb_images(fddb, data.annotations)
        data.fddb_root, data.fddb_pool, data.fddb_keys = fddb, len(pool), spread(pool, fddb_limit)
    except (FileNotFoundError, OSError, ValueError) as exc:
        data.annotations = None
        data.problems.append(f"FDDB not usable under {fddb}: {exc}")
    return data


def _finite(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def evaluate_subject(subject: Subject, data: AccuracyData, progress: bool = True) -> dict[str, Any]:
    """Run one subject over both datasets and score it."""
    from evaluation import evaluate_fddb, evaluate_widerface, run_detector
    from evaluation.fddb import image_path as fddb_path
    from evaluation.widerface import image_path as wider_path

    spec = subject.spec
    row: dict[str, Any] = {
        **row_identity(subject),
        "widerface": None,
        "fddb": None,
    }
    subject.activate()
    if data.gt is not None and data.wider_keys:
        paths = {k: wider_path(data.widerface_root, k) for k in data.wider_keys}
        start = time.perf_counter()
        predictions, _, spent = run_detector(subject, paths, progress=progress, desc=f"WIDER {spec.key}")
        result = evaluate_widerface(predictions, data.gt, images=data.wider_keys)
        row["widerface"] = {
            "ap": {k: _finite(v) for k, v in result.ap.items()},
            "images": len(data.wider_keys),
            "predictions": result.num_predictions,
            "detect_seconds": round(spent, 2),
            "total_seconds": round(time.perf_counter() - start, 2),
        }
    if data.annotations is not None and data.fddb_keys:
        paths = {k: fddb_path(data.fddb_root, k) for k in data.fddb_keys}
        predictions, sizes, spent = run_detector(subject, paths, progress=progress, desc=f"FDDB {spec.key}")
        official = evaluate_fddb(predictions, data.annotations, sizes, images=data.fddb_keys, annotation="ellipse")
        rect = evaluate_fddb(predictions, data.annotations, sizes, images=data.fddb_keys, annotation="rect")
        row["fddb"] = {
            "tpr_at_fp_discrete": {str(k): _finite(v) for k, v in official.tpr_at_fp["discrete"].items()},
            "tpr_at_fp_continuous": {str(k): _finite(v) for k, v in official.tpr_at_fp["continuous"].items()},
            "tpr_at_fp_discrete_rect": {str(k): _finite(v) for k, v in rect.tpr_at_fp["discrete"].items()},
            "images": len(data.fddb_keys),
            "faces": official.num_faces,
            "detect_seconds": round(spent, 2),
        }
    log.info("accuracy %s: %s", spec.key, row["widerface"] and row["widerface"]["ap"])
    return row
