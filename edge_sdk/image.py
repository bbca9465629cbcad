"""Input validation and conversion to the one format the pipeline runs on: contiguous HxWx3 uint8 BGR."""

from __future__ import annotations

import numpy as np
import cv2

from .errors import InvalidImageError

DEFAULT_MAX_PIXELS = 100_000_000  # ~ 12K x 8K; bigger is almost surely a mistake, and would exhaust memory


def to_bgr_uint8(image: object, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Validate ``image`` and return it as a contiguous HxWx3 uint8 BGR array.

    Accepted: HxWx3 uint8 BGR (as-is), HxW or HxWx1 uint8 grayscale, HxWx4 uint8 BGRA (alpha dropped).
    """
    if image is None:
        raise InvalidImageError("image is None (cv2.imread returns None for a missing or unreadable file)")
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"image must be a numpy array (HxWx3 uint8 BGR), got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InvalidImageError(
            f"image dtype must be uint8 (0-255), got {image.dtype}; convert with np.clip(img, 0, 255).astype(np.uint8)"
        )
    if image.ndim not in (2, 3):
        raise InvalidImageError(f"image must be HxW or HxWxC, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidImageError(f"image is empty (shape {image.shape})")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise InvalidImageError(
            f"image of {image.shape[1]}x{image.shape[0]} exceeds the limit of {max_pixels} pixels (max_pixels)"
        )
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels == 1:
        return cv2.cvtColor(np.ascontiguousarray(image.reshape(image.shape[:2])), cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGRA2BGR)
    if channels != 3:
        raise InvalidImageError(f"image must have 1, 3 or 4 channels, got {channels} (shape {image.shape})")
    return np.ascontiguousarray(image)
