"""Privacy mode: blur or pixelate every detected face.

The work does not grow with the number of faces: boxes are grouped into a few strength levels (blur kernel or
pixel-cell size, each level spanning a factor of :data:`LEVEL_RATIO`), and each level is one effect over the
bounding rectangle of its boxes, composited through the union of its boxes. Thousands of overlapping boxes (a
request with ``score_threshold=0``) therefore cost about as much as a handful. An isolated face looks as it
would when blurred on its own; where boxes overlap, the strongest level covering a pixel wins, so every face is
blurred at least as strongly as it would be alone.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from .detections import Detections
from .errors import InvalidArgumentError

MODES = ("blur", "pixelate")
#: boxes whose blur kernels (or pixel cells) are within this factor share one pass (at the largest of them)
LEVEL_RATIO = 1.25
#: at most this many passes per image: with more distinct face sizes, levels widen (faces get a stronger blur)
MAX_LEVELS = 8
#: a larger Gaussian kernel runs on a copy downscaled to this kernel size, then upscaled (same look, bounded cost)
_DIRECT_KERNEL = 31
_CELLS_PER_SIDE = 8  # pixelate: about this many cells across a face's shorter side


def anonymize_faces(
    image_bgr: np.ndarray, detections: Detections, mode: str = "blur", margin: float = 0.15
) -> np.ndarray:
    """A copy of ``image_bgr`` with each face box (grown by ``margin`` of its size) blurred or pixelated.

    Pixels outside the (grown) boxes are left untouched.
    """
    if mode not in MODES:
        raise InvalidArgumentError(f"mode must be one of {MODES}, got {mode!r}")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin <= 1:
        raise InvalidArgumentError(f"margin must be a number in [0, 1], got {margin!r}")
    out = image_bgr.copy()
    regions = _face_regions(detections.boxes, margin, width=out.shape[1], height=out.shape[0])
    if len(regions) == 0:
        return out
    sides = np.stack([regions[:, 2] - regions[:, 0], regions[:, 3] - regions[:, 1]], axis=1)
    if mode == "blur":
        # strong enough that the face is unrecognizable (and no longer detected as one)
        kernels = np.maximum(3, (sides.max(axis=1) // 2) | 1)
        _apply_by_level(image_bgr, out, regions, kernels, _gaussian_blur, context=lambda kernel: kernel // 2)
    else:
        cells = np.maximum(1, sides.min(axis=1) // _CELLS_PER_SIDE)
        _apply_by_level(image_bgr, out, regions, cells, _pixelate, context=lambda cell: 0)
    return out


def _face_regions(boxes: np.ndarray, margin: float, width: int, height: int) -> np.ndarray:
    """(M, 4) int64 ``left, top, right, bottom`` (exclusive) of the boxes grown by ``margin``, clipped to the
    image; empty ones dropped."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    grow = np.concatenate([boxes[:, 2:4] - boxes[:, 0:2]] * 2, axis=1) * margin
    grown = boxes + grow * np.array([-1, -1, 1, 1])
    regions = np.empty((len(boxes), 4), dtype=np.int64)
    regions[:, 0:2] = np.maximum(0, np.trunc(grown[:, 0:2]))
    regions[:, 2] = np.minimum(width, np.ceil(grown[:, 2]))
    regions[:, 3] = np.minimum(height, np.ceil(grown[:, 3]))
    nonempty = (regions[:, 2] > regions[:, 0]) & (regions[:, 3] > regions[:, 1])
    return regions[nonempty]


def _apply_by_level(
    source: np.ndarray,
    out: np.ndarray,
    regions: np.ndarray,
    strengths: np.ndarray,
    effect: Callable[[np.ndarray, int], np.ndarray],
    context: Callable[[int], int],
) -> None:
    """For each strength level, weakest first: ``effect`` over windows of the *original* image, copied into
    ``out`` inside the regions. Stronger levels overwrite weaker ones where regions overlap.

    Where the level's regions are sparse, each is its own window at its own strength: the look of the face blurred
    alone. Where they crowd, the level is one window, the bounding rectangle of its regions plus
    ``context(strength)`` pixels of real neighbours, at the level's largest strength, composited through the
    union of the regions. Either way a level costs at most about one pass over the image.
    """
    levels = _levels(strengths)
    height, width = source.shape[:2]
    for level in np.unique(levels):
        members, own = regions[levels == level], strengths[levels == level]
        strength = int(own.max())
        pad = int(context(strength))
        bounds = np.array(
            [
                max(0, members[:, 0].min() - pad),
                max(0, members[:, 1].min() - pad),
                min(width, members[:, 2].max() + pad),
                min(height, members[:, 3].max() + pad),
            ]
        )
        if _area(members).sum() < _area(bounds[None])[0]:
            for member, alone in zip(members, own):
                _apply_in_window(source, out, member[None], member, int(alone), effect)
        else:
            _apply_in_window(source, out, members, bounds, strength, effect)


def _apply_in_window(
    source: np.ndarray,
    out: np.ndarray,
    members: np.ndarray,
    window: np.ndarray,
    strength: int,
    effect: Callable[[np.ndarray, int], np.ndarray],
) -> None:
    left, top, right, bottom = (int(v) for v in window)
    changed = effect(source[top:bottom, left:right], strength)
    local = members - np.array([left, top, left, top])
    if len(local) == 1:
        x1, y1, x2, y2 = (int(v) for v in local[0])
        out[top + y1 : top + y2, left + x1 : left + x2] = changed[y1:y2, x1:x2]
    else:
        cv2.copyTo(changed, _union_mask(local, bottom - top, right - left), out[top:bottom, left:right])


def _area(rects: np.ndarray) -> np.ndarray:
    return (rects[:, 2] - rects[:, 0]) * (rects[:, 3] - rects[:, 1])


def _levels(strengths: np.ndarray) -> np.ndarray:
    """Level index per strength: steps of LEVEL_RATIO from the weakest, widened to fit MAX_LEVELS."""
    span = float(strengths.max()) / float(strengths.min())
    ratio = max(LEVEL_RATIO, span ** (1 / MAX_LEVELS))
    levels = np.floor(np.log(strengths / strengths.min()) / np.log(ratio)).astype(np.int64)
    return np.minimum(levels, MAX_LEVELS - 1)


def _union_mask(regions: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (height, width) mask, 1 inside the union of ``regions`` (left, top, right, bottom; exclusive): +-1 at
    the corners, then one 2-D prefix sum (``cv2.integral``). O(area + boxes) however many boxes overlap."""
    corners = np.zeros((height + 1, width + 1), dtype=np.float32)
    left, top, right, bottom = regions.T
    np.add.at(corners, (top, left), 1)
    np.add.at(corners, (top, right), -1)
    np.add.at(corners, (bottom, left), -1)
    np.add.at(corners, (bottom, right), 1)
    covered = cv2.integral(corners, sdepth=cv2.CV_32F)[1 : height + 1, 1 : width + 1] > 0.5
    return covered.view(np.uint8)


def _gaussian_blur(region: np.ndarray, kernel: int) -> np.ndarray:
    """GaussianBlur with an odd ``kernel`` and sigma kernel/3; kernels above :data:`_DIRECT_KERNEL` run on a copy
    downscaled by kernel/_DIRECT_KERNEL (a blur that wide has no detail the downscale could lose)."""
    if kernel <= _DIRECT_KERNEL:
        return cv2.GaussianBlur(region, (kernel, kernel), kernel / 3)
    height, width = region.shape[:2]
    scale = _DIRECT_KERNEL / kernel
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(region, small_size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (_DIRECT_KERNEL, _DIRECT_KERNEL), _DIRECT_KERNEL / 3)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _pixelate(region: np.ndarray, cell: int) -> np.ndarray:
    """Cells of about ``cell`` pixels, aligned to the region's top-left corner."""
    height, width = region.shape[:2]
    small = cv2.resize(region, (max(1, width // cell), max(1, height // cell)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
