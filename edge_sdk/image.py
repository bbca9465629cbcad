"""Input validation and conversion to the one format the pipeline runs on: contiguous HxWx3 uint8 BGR.

Accepted inputs (everything else raises :class:`InvalidImageError` with what to do):

- numpy ``uint8`` arrays: HxWx3 BGR (as-is, or RGB with ``rgb=True``), HxW / HxWx1 grayscale, HxWx4 BGRA
  (RGBA with ``rgb=True``; alpha dropped). Non-contiguous and read-only arrays are fine (never written to).
- numpy float arrays (float16/32/64) with every value in [0, 1]: scaled to 0-255. Floats outside [0, 1] or NaN
  are rejected, since the right scale cannot be guessed.
- ``PIL.Image.Image``: converted from its mode to RGB, EXIF orientation applied. 16-bit modes (``I;16*``, and ``I``
  holding values above 255) are scaled to 8 bits as OpenCV does for a 16-bit file (``>> 8``); mode ``F`` follows the
  float rule above.
- ``str`` / ``os.PathLike``: an image file, decoded by OpenCV with its EXIF orientation applied.
- ``bytes`` / ``bytearray`` / ``memoryview``: an encoded image (JPEG, PNG, ...), EXIF orientation applied.

The pixel limit (``max_pixels``) is checked before any work that scales with the image: on the header of a file or
encoded bytes (read with :mod:`imagesize`, so a small file that would decode into gigabytes — a decompression bomb —
is refused before decoding), and on the shape of an array before it is converted.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import cv2
import imagesize
import numpy as np

from .errors import InvalidImageError

DEFAULT_MAX_PIXELS = 100_000_000  # ~ 12K x 8K; bigger is almost surely a mistake, and would exhaust memory
_MAX_FILE_BYTES = 512 * 1024 * 1024


def to_bgr_uint8(image: object, max_pixels: int = DEFAULT_MAX_PIXELS, rgb: bool = False) -> np.ndarray:
    """Validate ``image`` and return it as a contiguous HxWx3 uint8 BGR array (see the module docstring)."""
    if image is None:
        raise InvalidImageError("image is None (cv2.imread returns None for a missing or unreadable file)")
    if isinstance(image, (str, os.PathLike)):
        return decode_image(_read_file(Path(image)), max_pixels, source=str(image))
    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode_image(bytes(image), max_pixels, source="bytes")
    if _is_pil_image(image):
        width, height = image.size
        _check_dimensions(int(width), int(height), max_pixels)
        return _from_pil(image)
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(
            f"image must be a numpy array (HxWx3 uint8 BGR), a PIL image, a file path or encoded bytes; "
            f"got {type(image).__name__}"
        )
    if image.ndim not in (2, 3):
        raise InvalidImageError(
            f"image must be HxW or HxWxC, got shape {image.shape} (a batch? pass one image, "
            "or a list of images to detect_batch)"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidImageError(f"image is empty (shape {image.shape})")
    _check_dimensions(image.shape[1], image.shape[0], max_pixels)  # before any conversion allocates
    array = _to_uint8(image)
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


def load_image(source: str | os.PathLike | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A file path or encoded bytes → HxWx3 uint8 BGR, refusing oversized images from the header, before decoding."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_image(bytes(source), max_pixels, source="bytes")
    return decode_image(_read_file(Path(source)), max_pixels, source=str(source))


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, source: str = "bytes") -> np.ndarray:
    """Encoded bytes → HxWx3 uint8 BGR (EXIF orientation applied). The dimensions are read from the header first, so
    an image over ``max_pixels`` is refused without being decoded."""
    if not data:
        raise InvalidImageError(f"image data from {source} is empty")
    width, height = header_dimensions(data, source)
    _check_dimensions(width, height, max_pixels)
    return _decode(data, source)


def header_dimensions(data: bytes, source: str = "bytes") -> tuple[int, int]:
    """(width, height) from the header of an encoded image (JPEG, PNG, BMP, GIF, TIFF, WebP, Netpbm, JPEG 2000, ...)
    without decoding it; :class:`InvalidImageError` when the header cannot be read."""
    try:
        width, height = imagesize.get(io.BytesIO(data), exif_rotation=False)
    except (ValueError, struct.error, OSError, IndexError, TypeError) as exc:
        raise InvalidImageError(f"cannot read the image header of {source}: {exc}") from exc
    if width < 0 or height < 0:
        raise InvalidImageError(
            f"cannot decode an image from {source}: not an image, corrupt, or a format whose size cannot be read "
            "from its header (JPEG, PNG, BMP, GIF, TIFF, WebP, Netpbm and JPEG 2000 are accepted)"
        )
    if width == 0 or height == 0:
        raise InvalidImageError(f"the header of {source} declares an empty image ({width}x{height})")
    return int(width), int(height)


def _check_dimensions(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise InvalidImageError(
            f"image of {width}x{height} exceeds the limit of {max_pixels} pixels (max_pixels; raise it if this is "
            "intended)"
        )


def _read_file(path: Path) -> bytes:
    if not path.is_file():
        raise InvalidImageError(f"image file {path} does not exist")
    size = path.stat().st_size
    if size > _MAX_FILE_BYTES:
        raise InvalidImageError(f"image file {path} is {size} bytes, larger than {_MAX_FILE_BYTES}")
    return path.read_bytes()


def _decode(data: bytes, source: str) -> np.ndarray:
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
        if image.mode.startswith("I") or image.mode == "F":
            return to_bgr_uint8(_pil_wide_to_array(image))
        rgb = np.asarray(image.convert("RGB"))
    except OSError as exc:
        raise InvalidImageError(f"cannot read the PIL image: {exc}") from exc
    if rgb.size == 0:
        raise InvalidImageError("PIL image is empty")
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _pil_wide_to_array(image) -> np.ndarray:
    """Single-channel PIL modes wider than 8 bits as an array the numpy rules accept: 16-bit (``I;16*``, or ``I``
    holding values above 255) scaled to 8 bits as OpenCV does for a 16-bit file; ``F`` left as float (the [0, 1]
    rule applies); ``I`` within 0..255 taken as 8-bit values. Never ``convert("RGB")``, which clips them to white."""
    values = np.asarray(image)
    if image.mode == "F":
        return values.astype(np.float32, copy=False)
    wide = values.astype(np.int64, copy=False)
    if wide.size and (wide.min() < 0 or wide.max() > 65535):
        raise InvalidImageError(f"PIL image of mode {image.mode} holds values outside 0..65535: not an image")
    if image.mode.startswith("I;16") or (wide.size and wide.max() > 255):
        return (wide >> 8).astype(np.uint8)
    return wide.astype(np.uint8)
