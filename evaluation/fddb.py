"""FDDB protocol, following the official ``evaluate`` program (Jain & Learned-Miller, UMass 2010).

Annotations are ellipses (``FDDB-folds/FDDB-fold-XX-ellipseList.txt``: ``major_radius minor_radius angle cx cy 1``).
Detections are rectangles ``left top width height score`` (the ``-f 0`` format).

What ``evaluate`` does, and what is done here:

* **Overlap** is measured on pixels: each region is rasterised into an image-sized mask (OpenCV ``ellipse`` with
  centre rounded, radii truncated to int, angle in degrees; ``rectangle`` with both corners rounded, inclusive,
  clipped to the image) and the score is ``|A and D| / |A or D|``. Here the ellipse is rasterised with the same
  OpenCV call; the rectangle's pixel counts are read from a summed-area table of the ellipse mask (identical counts,
  no per-detection mask).
* **Matching** is one-to-one: for each score threshold, the detections scoring >= it are matched to annotations by
  the Hungarian algorithm maximising the summed overlap (annotations and detections with zero total overlap are
  left out first, as in ``Matching::runHungarian``); every matched pair with overlap > 0 counts.
* **Scores**: the *discrete* score of a pair is 1 if its overlap > 0.5 else 0; the *continuous* score is the
  overlap itself. FP = detections above the threshold - discrete TPs (for both ROCs).
* **ROC**: one point per distinct detection score over all images evaluated: TPR = TP / annotated faces, against
  the FP count. Only images present on disk are evaluated (the shared data has 133 of the 2845); the result says
  which, per fold. Tie-breaking between equally good assignments may differ from the original C Hungarian code.

**Rectangles vs ellipses.** The official protocol compares a detector's rectangle directly with the annotated
ellipse, with no fitting (``annotation="ellipse"``, the default and the number to report). Box detectors are known to
be penalised by this (their boxes are not ellipse-shaped), so a common practice for box detectors is to replace each
ellipse by a rectangle; ``annotation="rect"`` does that with the tight axis-aligned bounding rectangle of the rotated
ellipse (:func:`ellipse_to_rect`) and otherwise runs the same protocol. It is reported as a secondary figure.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

log = logging.getLogger(__name__)

NUM_FOLDS = 10
DEFAULT_FP_POINTS: tuple[int, ...] = (10, 25, 50, 100, 200, 500)
AnnotationMode = Literal["ellipse", "rect"]


@dataclass(frozen=True)
class FddbAnnotations:
    """``ellipses[key]``: (N,5) ``major_radius, minor_radius, angle (rad), center_x, center_y``;
    ``folds[key]``: fold number; ``image_keys``: official order (fold, then file order)."""

    ellipses: Mapping[str, np.ndarray]
    folds: Mapping[str, int]
    image_keys: tuple[str, ...]

    def num_faces(self, images: Iterable[str] | None = None) -> int:
        return int(sum(len(self.ellipses[k]) for k in (self.image_keys if images is None else images)))


def _folds_dir(root: str | Path) -> Path:
    root = Path(root)
    for candidate in (root / "FDDB-folds", root, root / "fddb" / "FDDB-folds"):
        if (candidate / "FDDB-fold-01-ellipseList.txt").is_file():
            return candidate
    raise FileNotFoundError(f"no FDDB-folds/FDDB-fold-01-ellipseList.txt under {root}")


def parse_ellipse_list(path: str | Path) -> dict[str, np.ndarray]:
    """One ``FDDB-fold-XX-ellipseList.txt`` → ``key -> (N,5)`` (keys without ``.jpg``)."""
    lines = [ln.strip() for ln in Path(path).read_text().splitlines()]
    lines = [ln for ln in lines if ln]
    out: dict[str, np.ndarray] = {}
    i = 0
    while i < len(lines):
        key = lines[i].removesuffix(".jpg")
        if i + 1 >= len(lines):
            raise ValueError(f"{path}: {key} has no count line")
        count = int(lines[i + 1])
        rows = []
        for j in range(count):
            fields = lines[i + 2 + j].split()
            if len(fields) < 5:
                raise ValueError(f"{path}: {key} ellipse {j + 1} needs 5 numbers, got {lines[i + 2 + j]!r}")
            rows.append([float(f) for f in fields[:5]])
        out[key] = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
        i += 2 + count
    return out


def load_fddb_annotations(root: str | Path, folds: Iterable[int] = range(1, NUM_FOLDS + 1)) -> FddbAnnotations:
    """Read the ellipse lists of ``folds`` from ``<root>/FDDB-folds`` (``root``: the FDDB folder)."""
    fold_dir = _folds_dir(root)
    ellipses: dict[str, np.ndarray] = {}
    fold_of: dict[str, int] = {}
    order: list[str] = []
    for fold in folds:
        for key, ell in parse_ellipse_list(fold_dir / f"FDDB-fold-{fold:02d}-ellipseList.txt").items():
            if key in ellipses:
                raise ValueError(f"{key} appears in two folds")
            ellipses[key] = ell
            fold_of[key] = int(fold)
            order.append(key)
    return FddbAnnotations(ellipses=ellipses, folds=fold_of, image_keys=tuple(order))


def image_path(root: str | Path, key: str) -> Path:
    return Path(root) / "originalPics" / f"{key}.jpg"


def list_fddb_images(root: str | Path, annotations: FddbAnnotations) -> list[str]:
    """Annotated images present under ``<root>/originalPics`` (official order)."""
    return [k for k in annotations.image_keys if image_path(root, k).is_file()]


def read_image_sizes(root: str | Path, keys: Iterable[str]) -> dict[str, tuple[int, int]]:
    """``key -> (height, width)`` read from the image headers."""
    sizes = {}
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - matplotlib brings Pillow
        import cv2

        for key in keys:
            image = cv2.imread(str(image_path(root, key)), cv2.IMREAD_UNCHANGED)
            if image is None:
                raise FileNotFoundError(f"cannot read {image_path(root, key)}") from None
            sizes[key] = (int(image.shape[0]), int(image.shape[1]))
        return sizes
    for key in keys:
        with Image.open(image_path(root, key)) as im:
            sizes[key] = (int(im.height), int(im.width))
    return sizes


def ellipse_to_rect(ellipses: np.ndarray) -> np.ndarray:
    """Tight axis-aligned bounding rectangle (N,4) ``x1, y1, x2, y2`` of each rotated ellipse (N,5)."""
    e = np.asarray(ellipses, dtype=np.float64).reshape(-1, 5)
    a, b, t, cx, cy = e.T
    hx = np.sqrt((a * np.cos(t)) ** 2 + (b * np.sin(t)) ** 2)
    hy = np.sqrt((a * np.sin(t)) ** 2 + (b * np.cos(t)) ** 2)
    return np.stack([cx - hx, cy - hy, cx + hx, cy + hy], axis=1)


def _cv_round(v: np.ndarray) -> np.ndarray:
    """``cvPointFrom32f(cvPoint2D32f(v))``: to float32, then round half to even."""
    return np.rint(np.asarray(v, dtype=np.float32)).astype(np.int64)


def _rect_pixels(xyxy: np.ndarray, width: int, height: int) -> tuple[np.ndarray, ...]:
    """Inclusive pixel ranges of filled OpenCV rectangles, clipped: x0, x1, y0, y1 and an 'empty' flag."""
    p = _cv_round(np.asarray(xyxy, dtype=np.float64).reshape(-1, 4))
    x0, x1 = np.minimum(p[:, 0], p[:, 2]), np.maximum(p[:, 0], p[:, 2])
    y0, y1 = np.minimum(p[:, 1], p[:, 3]), np.maximum(p[:, 1], p[:, 3])
    x0c, x1c = np.clip(x0, 0, width - 1), np.clip(x1, 0, width - 1)
    y0c, y1c = np.clip(y0, 0, height - 1), np.clip(y1, 0, height - 1)
    empty = (x1 < 0) | (x0 > width - 1) | (y1 < 0) | (y0 > height - 1)
    return x0c, x1c, y0c, y1c, empty


def annotation_mask(ellipse: np.ndarray, height: int, width: int, annotation: AnnotationMode = "ellipse") -> np.ndarray:
    """Rasterised annotation region (H,W) uint8 in {0,1}, as ``EllipseR::display`` draws it (or its fitted rect)."""
    import cv2

    mask = np.zeros((height, width), dtype=np.uint8)
    a, b, t, cx, cy = (float(v) for v in ellipse)
    if annotation == "ellipse":
        center = tuple(int(v) for v in _cv_round(np.array([cx, cy])))
        axes = (int(a), int(b))  # C++ (int) truncation
        angle_deg = 180.0 - (np.pi - t) * 180.0 / np.pi  # EllipsesSingleImage::read then EllipseR::display
        cv2.ellipse(mask, center, axes, angle_deg, 0, 360, 1, thickness=-1)
    elif annotation == "rect":
        x0, x1, y0, y1, empty = _rect_pixels(ellipse_to_rect(np.asarray(ellipse))[0:1], width, height)
        if not empty[0]:
            mask[y0[0] : y1[0] + 1, x0[0] : x1[0] + 1] = 1
    else:
        raise ValueError(f"annotation must be 'ellipse' or 'rect', got {annotation!r}")
    return mask


def region_overlaps(
    ellipses: np.ndarray,
    det_xyxy: np.ndarray,
    image_size: tuple[int, int],
    annotation: AnnotationMode = "ellipse",
) -> np.ndarray:
    """Pixel IoU (A, D) between annotations and detection rectangles in an image of ``(height, width)``."""
    height, width = image_size
    ell = np.asarray(ellipses, dtype=np.float64).reshape(-1, 5)
    det = np.asarray(det_xyxy, dtype=np.float64).reshape(-1, 4)
    out = np.zeros((len(ell), len(det)), dtype=np.float64)
    if len(ell) == 0 or len(det) == 0:
        return out
    x0, x1, y0, y1, empty = _rect_pixels(det, width, height)
    rect_area = np.where(empty, 0, (x1 - x0 + 1) * (y1 - y0 + 1)).astype(np.float64)
    for i, e in enumerate(ell):
        mask = annotation_mask(e, height, width, annotation)
        sat = np.zeros((height + 1, width + 1), dtype=np.int64)
        sat[1:, 1:] = mask.cumsum(axis=0, dtype=np.int64).cumsum(axis=1)
        inter = (sat[y1 + 1, x1 + 1] - sat[y0, x1 + 1] - sat[y1 + 1, x0] + sat[y0, x0]).astype(np.float64)
        inter[empty] = 0.0
        union = float(sat[-1, -1]) + rect_area - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            out[i] = np.where(union > 0, inter / union, 0.0)
    return out


def match_at_threshold(iou: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Overlaps of the matched (annotation, detection) pairs among ``valid`` detections (``runHungarian``)."""
    from scipy.optimize import linear_sum_assignment

    sub = iou[:, valid]
    rows = sub.sum(axis=1) != 0
    cols = sub.sum(axis=0) != 0
    m = sub[rows][:, cols]
    if m.size == 0:
        return np.zeros(0, dtype=np.float64)
    r, c = linear_sum_assignment(m, maximize=True)
    vals = m[r, c]
    return vals[vals > 0]


def image_roc(iou: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct score (ascending): thresholds, continuous TP, discrete TP and FP of one image."""
    uniq = np.unique(scores)
    tp_cont = np.zeros(len(uniq))
    tp_disc = np.zeros(len(uniq))
    fp = np.zeros(len(uniq))
    for t, thr in enumerate(uniq):
        valid = scores >= thr
        vals = match_at_threshold(iou, valid)
        tp_cont[t] = vals.sum()
        tp_disc[t] = np.count_nonzero(vals > 0.5)
        fp[t] = np.count_nonzero(valid) - tp_disc[t]
    return uniq, tp_cont, tp_disc, fp


@dataclass
class FddbResult:
    """ROC (one point per distinct score, FP ascending) and TPR at fixed FP counts."""

    thresholds: np.ndarray
    fp: np.ndarray
    tpr_discrete: np.ndarray
    tpr_continuous: np.ndarray
    tpr_at_fp: dict[str, dict[int, float]]
    images: tuple[str, ...]
    folds: dict[int, int]
    num_faces: int
    num_predictions: int
    annotation: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, include_curves: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "tpr_at_fp": {kind: {str(k): v for k, v in pts.items()} for kind, pts in self.tpr_at_fp.items()},
            "annotation": self.annotation,
            "num_images": len(self.images),
            "images_per_fold": {f"{k:02d}": v for k, v in sorted(self.folds.items())},
            "num_faces": self.num_faces,
            "num_predictions": self.num_predictions,
            "max_fp": int(self.fp[-1]) if len(self.fp) else 0,
            "images": list(self.images),
        }
        if include_curves:
            d["roc"] = {
                "threshold": [float(t) if np.isfinite(t) else None for t in self.thresholds],
                "fp": [int(v) for v in self.fp],
                "tpr_discrete": [float(v) for v in self.tpr_discrete],
                "tpr_continuous": [float(v) for v in self.tpr_continuous],
            }
        d.update(self.extra)
        return d


def tpr_at_fp(fp: np.ndarray, tpr: np.ndarray, points: Iterable[int]) -> dict[int, float]:
    """Highest TPR among ROC points with at most ``k`` false positives, for each ``k``."""
    out = {}
    for k in points:
        ok = fp <= k
        out[int(k)] = float(tpr[ok].max()) if ok.any() else 0.0
    return out


def evaluate_fddb(
    predictions: Mapping[str, Any],
    annotations: FddbAnnotations,
    image_sizes: Mapping[str, tuple[int, int]],
    images: Iterable[str] | None = None,
    *,
    annotation: AnnotationMode = "ellipse",
    fp_points: Iterable[int] = DEFAULT_FP_POINTS,
) -> FddbResult:
    """Score predictions (``key -> (N,5) x1, y1, x2, y2, score``) by the FDDB protocol (see module docstring).

    ``image_sizes``: ``key -> (height, width)`` (regions are clipped to the image, as the official masks are);
    ``images``: the images evaluated (default: the keys of ``predictions``); all their faces count in the TPR.
    """
    keys = list(dict.fromkeys(predictions if images is None else images))
    unknown = [k for k in keys if k not in annotations.ellipses]
    if unknown:
        raise ValueError(f"{len(unknown)} image keys not in the FDDB annotations, e.g. {unknown[:3]}")
    no_size = [k for k in keys if k not in image_sizes]
    if no_size:
        raise ValueError(f"no image size for {len(no_size)} images, e.g. {no_size[:3]}")

    per_image = []
    num_faces = 0
    num_predictions = 0
    for key in keys:
        ell = annotations.ellipses[key]
        num_faces += len(ell)
        pred = np.asarray(predictions.get(key, np.zeros((0, 5))), dtype=np.float64).reshape(-1, 5)
        num_predictions += len(pred)
        if len(pred) == 0:
            continue
        iou = region_overlaps(ell, pred[:, :4], image_sizes[key], annotation)
        per_image.append(image_roc(iou, pred[:, 4]))

    all_scores = np.unique(np.concatenate([r[0] for r in per_image])) if per_image else np.zeros(0)
    tp_cont = np.zeros(len(all_scores))
    tp_disc = np.zeros(len(all_scores))
    fp = np.zeros(len(all_scores))
    for uniq, c, d, f in per_image:
        # At global threshold T an image contributes its result at its smallest distinct score >= T.
        j = np.searchsorted(uniq, all_scores, side="left")
        ok = j < len(uniq)
        tp_cont[ok] += c[j[ok]]
        tp_disc[ok] += d[j[ok]]
        fp[ok] += f[j[ok]]
    # Descending thresholds (FP ascending), starting from the empty detector at +inf.
    thresholds = np.concatenate([[np.inf], all_scores[::-1]])
    fp = np.concatenate([[0.0], fp[::-1]])
    denom = num_faces if num_faces else np.nan
    tpr_d = np.concatenate([[0.0], tp_disc[::-1]]) / denom
    tpr_c = np.concatenate([[0.0], tp_cont[::-1]]) / denom
    points = tuple(fp_points)
    folds: dict[int, int] = {}
    for k in keys:
        folds[annotations.folds[k]] = folds.get(annotations.folds[k], 0) + 1
    return FddbResult(
        thresholds=thresholds,
        fp=fp.astype(np.int64),
        tpr_discrete=tpr_d,
        tpr_continuous=tpr_c,
        tpr_at_fp={"discrete": tpr_at_fp(fp, tpr_d, points), "continuous": tpr_at_fp(fp, tpr_c, points)},
        images=tuple(keys),
        folds=folds,
        num_faces=num_faces,
        num_predictions=num_predictions,
        annotation=annotation,
    )
