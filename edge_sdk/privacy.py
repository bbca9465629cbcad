"""Privacy mode: blur or pixelate every detected face."""

from __future__ import annotations

import cv2
import numpy as np

from .detections import Detections
from .errors import InvalidArgumentError

MODES = ("blur", "pixelate")


def anonymize_faces(image_bgr: np.ndarray, detections: Detections, mode: str = "blur", margin: float = 0.15) -> np.ndarray:
    """A copy of ``image_bgr`` with each face box (grown by ``margin`` of its size) blurred or pixelated.

    Pixels outside the (grown) boxes are left untouched.
    """
    if mode not in MODES:
        raise InvalidArgumentError(f"mode must be one of {MODES}, got {mode!r}")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin <= 1:
        raise InvalidArgumentError(f"margin must be a number in [0, 1], got {margin!r}")
    out = image_bgr.copy()
    height, width = out.shape[:2]
    for x1, y1, x2, y2 in detections.boxes:
        grow_x, grow_y = (x2 - x1) * margin, (y2 - y1) * margin
        left, top = max(0, int(x1 - grow_x)), max(0, int(y1 - grow_y))
        right, bottom = min(width, int(np.ceil(x2 + grow_x))), min(height, int(np.ceil(y2 + grow_y)))
        if right <= left or bottom <= top:
            continue
        region = out[top:bottom, left:right]
        if mode == "blur":
            # strong enough that the face is unrecognizable (and no longer detected as one)
            kernel = max(3, (max(region.shape[:2]) // 2) | 1)
            out[top:bottom, left:right] = cv2.GaussianBlur(region, (kernel, kernel), kernel / 3)
        else:
            cells = max(1, min(region.shape[:2]) // 8)
            small = cv2.resize(region, (max(1, region.shape[1] // cells), max(1, region.shape[0] // cells)),
                               interpolation=cv2.INTER_AREA)
            out[top:bottom, left:right] = cv2.resize(small, (region.shape[1], region.shape[0]),
                                                     interpolation=cv2.INTER_NEAREST)
    return out
