"""Input validation and conversion to the one format the pipeline runs on: contiguous HxWx3 uint8 BGR.

Accepted inputs (everything else raises :class:`InvalidImageError` with what to do):

- numpy ``uint8`` arrays: HxWx3 BGR (as-is, or RGB with ``rgb=True``), HxW / HxWx1 grayscale, HxWx4 BGRA
  (RGBA with ``rgb=True``; alpha dropped). Non-contiguous and read-only arrays are fine (never written to).
- numpy float arrays (float16/32/64) with every value in [0, 1]: scaled to 0-255. Floats outside [0, 1] or NaN
  are rejected, since the right scale cannot be guessed.
- ``PIL.Image.Image``: converted from its mode to RGB, EXIF orientation applied.
- ``str`` / ``os.PathLike``: an image file, decoded by OpenCV with its EXIF orientation applied.
- ``bytes`` / ``bytearray`` / ``memoryview``: an encoded image (JPEG, PNG, ...), EXIF orientation applied.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .errors import InvalidImageError

DEFAULT_MAX_PIXELS = 100_000_000  # ~ 12K x 8K; bigger is almost surely a mistake, and would exhaust memory
_MAX_FILE_BYTES = 512 * 1024 * 1024


def to_bgr_uint8(image: object, max_pixels: int = DEFAULT_MAX_PIXELS, rgb: bool = False) -> np.ndarray:
    """Validate ``image`` and return it as a contiguous HxWx3 uint8 BGR array (see the module docstring)."""
    if image is None:
        raise InvalidImageError("image is None (cv2.imread returns None for a missing or unreadable file)")
    if isinstance(image, (str, os.PathLike)):
        return _check_size(_decode(_read_file(Path(image)), source=str(image)), max_pixels)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _check_size(_decode(bytes(image), source="bytes"), max_pixels)
    if _is_pil_image(image):
        return _check_size(_from_pil(image), max_pixels)
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(
            f"image must be a numpy array (HxWx3 uint8 BGR), a PIL image, a file path or encoded bytes; "
            f"got {type(image).__name__}"
        )
    array = _to_uint8(image)
    if array.ndim not in (2, 3):
        raise InvalidImageError(f"image must be HxW or HxWxC, got shape {array.shape} (a batch? pass one image, or a list of images to detect_batch)")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidImageError(f"image is empty (shape {array.shape})")
    _check_size(array, max_pixels)
    channels = 1 if array.ndim == 2 else array.shape[2]
    if channels == 1:
        return cv2.cvtColor(np.ascontiguousarray(array.reshape(array.shape[:2])), cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGBA2BGR if rgb else cv2.COLOR_BGRA2BGR)
    if channels != 3:
        raise InvalidImageError(f"image must have 1, 3 or 4 channels, got {channels} (shape {array.shape})")
    if rgb:
        return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(array)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype.kind == "f":
        if image.size and not np.isfinite(image).all():
            raise InvalidImageError("float image contains NaN or infinity")
        if image.size and (image.min() < 0.0 or image.max() > 1.0):
            raise InvalidImageError(
                f"float images must hold values in [0, 1] (got {float(image.min()):.3g}..{float(image.max()):.3g}); "
                "pass uint8 0-255 instead, e.g. np.clip(img, 0, 255).astype(np.uint8)"
            )
        return (image.astype(np.float32) * 255.0 + 0.5).astype(np.uint8)
    hint = " (16-bit: scale to 8 bits, e.g. (img >> 8).astype(np.uint8))" if image.dtype == np.uint16 else ""
    raise InvalidImageError(f"image dtype must be uint8 (0-255) or float in [0, 1], got {image.dtype}{hint}")


def _check_size(image: np.ndarray, max_pixels: int) -> np.ndarray:
    pixels = image.shape[0] * image.shape[1]
    if pixels > max_pixels:
        raise InvalidImageError(
            f"image of {image.shape[1]}x{image.shape[0]} exceeds the limit of {max_pixels} pixels "
            "(raise max_pixels if this is intended)"
        )
    return image


def _read_file(path: Path) -> bytes:
    if not path.is_file():
        raise InvalidImageError(f"image file {path} does not exist")
    size = path.stat().st_size
    if size > _MAX_FILE_BYTES:
        raise InvalidImageError(f"image file {path} is {size} bytes, larger than {_MAX_FILE_BYTES}")
    return path.read_bytes()


def _decode(data: bytes, source: str) -> np.ndarray:
    if not data:
        raise InvalidImageError(f"image data from {source} is empty")
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # applies EXIF orientation
    if decoded is None:
        raise InvalidImageError(f"cannot decode an image from {source}: not an image or corrupt/truncated")
    return decoded


def _is_pil_image(obj: object) -> bool:
    return type(obj).__module__.startswith("PIL.") and hasattr(obj, "convert") and hasattr(obj, "size")


def _from_pil(image) -> np.ndarray:
    from PIL import ImageOps  # only reached when the caller already has PIL

    try:
        image = ImageOps.exif_transpose(image)
        rgb = np.asarray(image.convert("RGB"))
    except OSError as exc:
        raise InvalidImageError(f"cannot read the PIL image: {exc}") from exc
    if rgb.size == 0:
        raise InvalidImageError("PIL image is empty")
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
