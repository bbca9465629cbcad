"""Annotated face images from WIDER FACE (official ``bbx_gt`` layout or RetinaFace ``label.txt``) and FDDB folds.

Everything is parsed into :class:`FaceSample` records: boxes ``x1, y1, x2, y2`` (float32, original pixels, ``x2 = x +
w``), 5 landmarks per face (left eye, right eye, nose, left mouth corner, right mouth corner; "left" = image left,
as the runtime reports them) and a per-face ``has_landmarks`` mask. A face without landmarks (WIDER official files,
FDDB, RetinaFace labels written as ``-1``) has ``has_landmarks = False`` and zeros in ``landmarks``; the landmark
loss masks it out, so those zeros are never targets.

Degenerate boxes (width or height below ``min_box_size``, non-finite values, e.g. the official val box with ``w =
-2``) and, optionally, boxes with WIDER's ``invalid`` attribute are dropped; the counts are logged. Images listed in an
annotation file but absent on disk are skipped with a logged count.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

NUM_LANDMARKS = 5


@dataclass
class FaceSample:
    """One annotated image."""

    key: str
    path: Path
    boxes: np.ndarray  # (N, 4) float32 xyxy
    landmarks: np.ndarray = field(default=None)  # (N, 5, 2) float32, zeros where absent
    has_landmarks: np.ndarray = field(default=None)  # (N,) bool

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        n = len(self.boxes)
        if self.landmarks is None:
            self.landmarks = np.zeros((n, NUM_LANDMARKS, 2), np.float32)
        if self.has_landmarks is None:
            self.has_landmarks = np.zeros(n, dtype=bool)
        self.landmarks = np.asarray(self.landmarks, dtype=np.float32).reshape(n, NUM_LANDMARKS, 2)
        self.has_landmarks = np.asarray(self.has_landmarks, dtype=bool).reshape(n)
        self.landmarks[~self.has_landmarks] = 0.0


@dataclass
class DropCounts:
    """What was left out while loading, for the log."""

    degenerate: int = 0
    invalid_flag: int = 0
    missing_images: int = 0
    kept_faces: int = 0
    images: int = 0

    def log(self, source: str) -> None:
        log.info(
            "%s: %d images, %d faces kept; dropped %d degenerate boxes, %d flagged invalid; %d images missing on disk",
            source,
            self.images,
            self.kept_faces,
            self.degenerate,
            self.invalid_flag,
            self.missing_images,
        )
        if self.degenerate or self.invalid_flag or self.missing_images:
            log.warning(
                "%s: dropped %d degenerate + %d invalid-flagged boxes, skipped %d missing images",
                source,
                self.degenerate,
                self.invalid_flag,
                self.missing_images,
            )


def valid_box_mask(boxes_xyxy: np.ndarray, min_size: float = 1.0) -> np.ndarray:
    """True for finite boxes at least ``min_size`` wide and tall."""
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    finite = np.isfinite(b).all(axis=1)
    with np.errstate(invalid="ignore"):
        return finite & (b[:, 2] - b[:, 0] >= min_size) & (b[:, 3] - b[:, 1] >= min_size)


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    b = np.asarray(xywh, dtype=np.float32).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:4]], axis=1)


def _make_sample(
    key: str,
    path: Path,
    boxes: np.ndarray,
    landmarks: np.ndarray | None,
    has_lm: np.ndarray | None,
    keep: np.ndarray,
    counts: DropCounts,
) -> FaceSample:
    counts.kept_faces += int(keep.sum())
    counts.images += 1
    return FaceSample(
        key=key,
        path=path,
        boxes=boxes[keep],
        landmarks=None if landmarks is None else landmarks[keep],
        has_landmarks=None if has_lm is None else has_lm[keep],
    )


def load_wider_bbx_gt(
    annotation_file: str | Path, image_dir: str | Path, *, drop_invalid: bool = True, min_box_size: float = 1.0
) -> list[FaceSample]:
    """Official ``wider_face_{train,val}_bbx_gt.txt`` (no landmarks). Images: ``image_dir/<event>/<name>.jpg``."""
    from evaluation.widerface import parse_wider_bbx_gt

    image_dir = Path(image_dir)
    counts = DropCounts()
    samples = []
    for key, ann in sorted(parse_wider_bbx_gt(annotation_file).items()):
        path = image_dir / f"{key}.jpg"
        if not path.is_file():
            counts.missing_images += 1
            continue
        boxes = xywh_to_xyxy(ann.boxes)
        ok = valid_box_mask(boxes, min_box_size)
        counts.degenerate += int((~ok).sum())
        keep = ok
        if drop_invalid and len(ann.attributes):
            flagged = ok & (ann.attributes[:, 3] != 0)
            counts.invalid_flag += int(flagged.sum())
            keep = ok & ~flagged
        samples.append(_make_sample(key, path, boxes, None, None, keep, counts))
    counts.log(f"WIDER FACE {Path(annotation_file).name}")
    return samples


def parse_retinaface_labels(label_file: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """RetinaFace ``label.txt``: ``# <event>/<name>.jpg`` then one face per line ``x y w h`` followed, when present, by
    5 landmarks as ``(x, y, flag)`` triplets (fields 4..18) and a score.

    Returns ``key -> (boxes xyxy (N,4), landmarks (N,5,2), has_landmarks (N,))``. A face has landmarks when its
    line has them and none of the 10 coordinates is negative (``-1`` marks "absent", as in the val file).
    """
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    key: str | None = None
    rows: list[list[float]] = []

    def flush() -> None:
        if key is None:
            return
        n = len(rows)
        boxes = np.zeros((n, 4), np.float32)
        landmarks = np.zeros((n, NUM_LANDMARKS, 2), np.float32)
        has = np.zeros(n, dtype=bool)
        for i, r in enumerate(rows):
            boxes[i] = xywh_to_xyxy(np.asarray(r[:4]))[0]
            if len(r) >= 4 + 3 * NUM_LANDMARKS - 1:
                pts = np.asarray([[r[4 + 3 * j], r[5 + 3 * j]] for j in range(NUM_LANDMARKS)], np.float32)
                if (pts >= 0).all():
                    landmarks[i], has[i] = pts, True
        out[key] = (boxes, landmarks, has)

    for line_no, line in enumerate(Path(label_file).read_text().splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            flush()
            name = line[1:].strip().split()[0].lstrip("/")
            key, rows = name.removesuffix(".jpg"), []
            continue
        if key is None:
            raise ValueError(f"{label_file}:{line_no}: a face line before any '# path' line")
        try:
            rows.append([float(v) for v in line.split()])
        except ValueError as exc:
            raise ValueError(f"{label_file}:{line_no}: not numbers: {line!r}") from exc
        if len(rows[-1]) < 4:
            raise ValueError(f"{label_file}:{line_no}: expected at least x y w h, got {line!r}")
    flush()
    return out


def load_retinaface_labels(
    label_file: str | Path, image_dir: str | Path | None = None, *, min_box_size: float = 1.0
) -> list[FaceSample]:
    """RetinaFace ``label.txt`` with landmarks. ``image_dir`` defaults to ``images/`` beside the label file."""
    label_file = Path(label_file)
    image_dir = Path(image_dir) if image_dir is not None else label_file.parent / "images"
    counts = DropCounts()
    samples = []
    for key, (boxes, landmarks, has) in sorted(parse_retinaface_labels(label_file).items()):
        path = image_dir / f"{key}.jpg"
        if not path.is_file():
            counts.missing_images += 1
            continue
        keep = valid_box_mask(boxes, min_box_size)
        counts.degenerate += int((~keep).sum())
        samples.append(_make_sample(key, path, boxes, landmarks, has, keep, counts))
    counts.log(f"RetinaFace labels {label_file}")
    n_lm = sum(int(s.has_landmarks.sum()) for s in samples)
    log.info("RetinaFace labels: %d of %d faces have landmarks", n_lm, counts.kept_faces)
    return samples


def fddb_ellipses_to_boxes(ellipses: np.ndarray) -> np.ndarray:
    """FDDB ellipse ``(major_radius, minor_radius, angle, cx, cy)`` → the tight axis-aligned box around it.

    This is :func:`evaluation.fddb.ellipse_to_rect` (the evaluation's ``annotation="rect"`` mode), so training
    targets and the rectangle evaluation agree. FDDB ellipses span chin to upper forehead, so these boxes are
    somewhat taller than WIDER FACE boxes of the same face; fine-tuning on them shifts the box style towards FDDB's.
    """
    from evaluation.fddb import ellipse_to_rect

    return ellipse_to_rect(ellipses).astype(np.float32)


def load_fddb(fddb_root: str | Path, folds: Iterable[int], *, min_box_size: float = 1.0) -> list[FaceSample]:
    """FDDB folds (``FDDB-folds/FDDB-fold-XX-ellipseList.txt``), images ``originalPics/<key>.jpg``."""
    from evaluation.fddb import image_path, load_fddb_annotations

    annotations = load_fddb_annotations(fddb_root, folds=list(folds))
    counts = DropCounts()
    samples = []
    for key in annotations.image_keys:
        path = image_path(fddb_root, key)
        if not path.is_file():
            counts.missing_images += 1
            continue
        boxes = fddb_ellipses_to_boxes(annotations.ellipses[key])
        keep = valid_box_mask(boxes, min_box_size)
        counts.degenerate += int((~keep).sum())
        samples.append(_make_sample(key, path, boxes, None, None, keep, counts))
    counts.log(f"FDDB folds {list(folds)}")
    return samples


def first_existing(root: Path, candidates: Iterable[str]) -> Path:
    candidates = list(candidates)
    for c in candidates:
        if (root / c).is_file():
            return root / c
    raise FileNotFoundError(f"none of the annotation files {candidates} exists under {root}")


def load_samples(data_cfg, data_root: str | Path) -> list[FaceSample]:
    """The training set a recipe's ``data`` section describes (see :class:`training.recipe.DataConfig`)."""
    root = Path(data_root)
    if data_cfg.format == "fddb":
        samples = load_fddb(root / data_cfg.fddb_root, data_cfg.fddb_folds, min_box_size=data_cfg.min_box_size)
    else:
        annotation_file = first_existing(root, data_cfg.annotations)
        log.info("annotations: %s", annotation_file)
        if data_cfg.format == "wider_bbx_gt":
            samples = load_wider_bbx_gt(
                annotation_file,
                root / data_cfg.images,
                drop_invalid=data_cfg.drop_invalid,
                min_box_size=data_cfg.min_box_size,
            )
        else:
            image_dir = root / data_cfg.images if data_cfg.images else None
            samples = load_retinaface_labels(annotation_file, image_dir, min_box_size=data_cfg.min_box_size)
    if data_cfg.keys is not None:
        wanted = set(data_cfg.keys)
        samples = [s for s in samples if s.key in wanted]
        missing = wanted - {s.key for s in samples}
        if missing:
            raise ValueError(f"data.keys not found: {sorted(missing)[:5]}")
    if data_cfg.max_images is not None:
        samples = samples[: data_cfg.max_images]
    if not samples:
        raise ValueError(f"no training images found under {root} for format {data_cfg.format!r}")
    return samples
