"""Encoded images arriving over a network: format sniffing, size limits checked before decoding, typed errors.

Only JPEG and PNG are accepted. The pixel limit is checked on the header's dimensions *before* the image is
decoded, so a small file that would decompress into gigabytes (a "decompression bomb") is refused cheaply.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidImageError
from ..image import to_bgr_uint8

FORMATS = {"jpeg": "image/jpeg", "png": "image/png"}
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000  # ~ 8K x 5K; a gateway has no business decoding more per frame


class PayloadError(InvalidImageError):
    """A payload that cannot be processed; ``status`` is the HTTP status and ``reason`` the machine-readable code
    used in error JSON (HTTP and MQTT alike)."""

    status = 400
    reason = "invalid_image"


class PayloadTooLargeError(PayloadError):
    status = 413
    reason = "payload_too_large"


class UnsupportedMediaError(PayloadError):
    status = 415
    reason = "unsupported_media_type"


@dataclass(frozen=True)
class Limits:
    """Per-request limits: encoded size in bytes and decoded size in pixels (width x height)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS


def sniff_format(data: bytes) -> str | None:
    """ "jpeg", "png" or None, from the magic bytes."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


def header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """(width, height) read from the PNG IHDR / JPEG SOF header without decoding; None if not found."""
    if fmt == "png":
        if len(data) >= 24 and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        return None
    pos = 2
    while pos + 4 <= len(data):  # walk the marker segments; every step advances, so this ends
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn: P, height, width
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if marker == 0xDA or length < 2:  # start of scan before any SOF, or a corrupt length
            return None
        pos += 2 + length
    return None


def check_payload(data: bytes, limits: Limits, declared_type: str | None = None) -> str:
    """Validate an encoded image against ``limits`` without decoding it; returns its format.

    ``declared_type`` (an HTTP Content-Type, an MQTT v5 ContentType) must, when given, be an image type.
    """
    if len(data) > limits.max_bytes:
        raise PayloadTooLargeError(f"payload is {len(data)} bytes, the limit is {limits.max_bytes}")
    if not data:
        raise PayloadError("payload is empty")
    fmt = sniff_format(data)
    if fmt is None:
        if declared_type and not declared_type.startswith("image/"):
            raise UnsupportedMediaError(
                f"content type {declared_type!r} is not an image (send image/jpeg or image/png)"
            )
        raise PayloadError("payload is not a JPEG or PNG image (wrong magic bytes)")
    size = header_size(data, fmt)
    if size is None:
        raise PayloadError(f"corrupt {fmt.upper()} header: no image dimensions found")
    width, height = size
    if width == 0 or height == 0:
        raise PayloadError(f"{fmt.upper()} header declares an empty image ({width}x{height})")
    if width * height > limits.max_pixels:
        raise PayloadTooLargeError(f"image of {width}x{height} exceeds the limit of {limits.max_pixels} pixels")
    return fmt


def decode_payload(data: bytes, limits: Limits, declared_type: str | None = None) -> tuple[np.ndarray, str]:
    """Validate, then decode to HxWx3 uint8 BGR (EXIF orientation applied). Returns (image, format)."""
    fmt = check_payload(data, limits, declared_type)
    try:
        return to_bgr_uint8(data, max_pixels=limits.max_pixels), fmt
    except PayloadError:
        raise
    except InvalidImageError as exc:
        raise PayloadError(str(exc)) from exc
