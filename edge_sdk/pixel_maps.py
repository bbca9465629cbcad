"""Resized uint8 BGR pixels → the values a model file's input takes (normalized float32, or normalized then quantized),
written into the top-left corner of one image's slot of the input tensor.

Each map is elementwise and per channel, so it is fully defined by what it does to the 256 values of each channel.
There are two implementations of each:

* the reference (numpy arithmetic for floats, a 256-entry lookup table per channel for integers): portable and the
  definition of the result;
* an OpenCV one (``cv2.split`` + ``cv2.subtract`` per plane, ``cv2.subtract`` on the whole canvas, or one
  ``cv2.addWeighted`` that normalizes and quantizes in a single pass): 2-4x faster, because OpenCV vectorizes these
  and numpy's per-channel strided reads and ``cv2.LUT``'s gathers are not.

OpenCV's arithmetic is not guaranteed to round like numpy's on every CPU (its SIMD paths differ between x86 and Arm),
so :func:`pixel_map_for` runs both on a test image that puts every value of every channel at every column position
of a 67-px row (all SIMD lane offsets and a ragged tail) and keeps the OpenCV map only if it is bit-identical there.
Otherwise the reference runs: faster where it can be, never different.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import cv2
import numpy as np

from .input_spec import InputSpec
from .preprocess import Normalization, normalize_into_planes

# (resized BGR image, one image's slot of the input tensor) → None: writes the image's area of the slot.
PixelMap = Callable[[np.ndarray, np.ndarray], None]

_CHECK_ROWS, _CHECK_COLUMNS = 256, 67  # every value at each of 67 column positions (odd: a ragged SIMD tail)


def model_channels(norm: Normalization) -> tuple[int, int, int]:
    """For each of the model's channels, the BGR canvas channel it reads."""
    return (2, 1, 0) if norm.channel_order == "RGB" else (0, 1, 2)


def pixel_map_for(spec: InputSpec, norm: Normalization, table: np.ndarray | None = None) -> tuple[PixelMap, str]:
    """The map for a "float" or "quantized" ``spec`` and the name of the implementation chosen ("opencv" or
    "reference"). ``table``: for "quantized", the (256, 3) lookup table per model channel (the definition)."""
    if spec.kind == "float":
        reference = _NumpyFloatMap(norm, spec.layout)
        candidate: PixelMap | None = _OpenCVFloatMap(norm, spec.layout)
    elif spec.kind == "quantized":
        if table is None:
            raise ValueError("a quantized map needs its lookup table")
        reference = _LookupMap(table, norm, spec.layout)
        candidate = _OpenCVQuantizedMap.if_affine(spec, norm)
    else:
        raise ValueError(f"no pixel map for a {spec.kind!r} input")
    if candidate is not None and _bit_identical(candidate, reference, spec):
        return candidate, "opencv"
    return reference, "reference"


def _bit_identical(candidate: PixelMap, reference: PixelMap, spec: InputSpec) -> bool:
    rows = np.arange(_CHECK_ROWS)[:, None, None]
    columns = np.arange(_CHECK_COLUMNS)[None, :, None]
    channels = np.arange(3)[None, None, :]
    image = ((rows + columns + 85 * channels) % 256).astype(np.uint8)  # column j holds all 256 values per channel
    # written into a wider slot, as into a canvas whose right part is padding (rows not contiguous)
    shape = spec.shape(1, _CHECK_ROWS + 3, _CHECK_COLUMNS + 13)[1:]
    expected, got = np.zeros(shape, spec.dtype), np.zeros(shape, spec.dtype)  # an unwritten area stays 0: differs
    try:
        reference(image, expected)
        candidate(image, got)
    except cv2.error:
        return False
    return bool(np.array_equal(expected.view(np.uint8), got.view(np.uint8)))  # bitwise, whatever the dtype


class _NumpyFloatMap:
    """Reference float map: ``(pixel - mean) / std`` in float32 numpy arithmetic."""

    def __init__(self, norm: Normalization, layout: str):
        self.norm, self.layout = norm, layout
        self.sources = model_channels(norm)
        self.mean = np.array(norm.mean, np.float32)
        self.inv_std = None if all(s == 1.0 for s in norm.std) else (1.0 / np.array(norm.std, np.float32))
        self._rows = (self.mean, self.inv_std)  # tiled per pixel, grown on demand: one attribute, so a thread never
        # sees one row grown and the other not

    def __call__(self, image_bgr: np.ndarray, slot: np.ndarray) -> None:
        if self.layout == "NCHW":
            normalize_into_planes(image_bgr, self.norm, slot)
            return
        height, width = image_bgr.shape[:2]
        source = image_bgr if self.sources == (0, 1, 2) else image_bgr[:, :, self.sources]
        # whole rows against the per-channel values tiled along a row: broadcasting a 3-vector over each pixel of a
        # channels-last array is ~6x slower (1.6 ms against 0.3 ms at 640x512)
        region = _as_rows(slot[:height, :width])
        mean, inv_std = self._tiled(width)
        np.subtract(_as_rows(np.ascontiguousarray(source)), mean, out=region, dtype=np.float32)
        if inv_std is not None:
            region *= inv_std

    def _tiled(self, width: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Mean and 1/std tiled over ``width`` pixels (views of rows kept at the widest width seen)."""
        mean_row, inv_std_row = self._rows
        if mean_row.size < 3 * width:
            mean_row = np.tile(self.mean, width)
            inv_std_row = None if self.inv_std is None else np.tile(self.inv_std, width)
            self._rows = (mean_row, inv_std_row)
        return mean_row[: 3 * width], None if inv_std_row is None else inv_std_row[: 3 * width]


class _OpenCVFloatMap:
    """The float map in OpenCV: per plane ``cv2.subtract`` into float32 (NCHW, after one ``cv2.split`` into this
    thread's reused uint8 planes), or one ``cv2.subtract`` of the per-channel mean over the whole canvas (NHWC); then
    a multiply by 1/std where std ≠ 1."""

    def __init__(self, norm: Normalization, layout: str):
        self.layout = layout
        self.sources = model_channels(norm)
        self.mean = tuple(float(np.float32(m)) for m in norm.mean)  # in the model's channel order
        self.inv_std = None if all(s == 1.0 for s in norm.std) else tuple(float(np.float32(1.0 / s)) for s in norm.std)
        self._local = threading.local()

    def _split(self, image_bgr: np.ndarray) -> list[np.ndarray]:
        """The image's channels, in this thread's planes (grown to the largest image seen, as the canvas is)."""
        height, width = image_bgr.shape[:2]
        flat = getattr(self._local, "planes", None)
        if flat is None or flat.shape[1] < height * width:
            flat = self._local.planes = np.empty((3, height * width), np.uint8)
        return cv2.split(image_bgr, [plane[: height * width].reshape(height, width) for plane in flat])

    def __call__(self, image_bgr: np.ndarray, slot: np.ndarray) -> None:
        height, width = image_bgr.shape[:2]
        if self.layout == "NCHW":
            planes = self._split(image_bgr)
            for plane, source in enumerate(self.sources):
                target = slot[plane, :height, :width]
                cv2.subtract(planes[source], self.mean[plane], dst=target, dtype=cv2.CV_32F)
                if self.inv_std is not None:
                    cv2.multiply(target, self.inv_std[plane], dst=target)
            return
        source = image_bgr if self.sources == (0, 1, 2) else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        region = slot[:height, :width]
        cv2.subtract(source, self.mean, dst=region, dtype=cv2.CV_32F)
        if self.inv_std is not None:
            cv2.multiply(region, self.inv_std, dst=region)


class _LookupMap:
    """Reference quantized map: each pixel through its model channel's 256-entry table (``cv2.LUT`` for NHWC,
    ``np.take`` per plane for NCHW)."""

    def __init__(self, table: np.ndarray, norm: Normalization, layout: str):
        self.table, self.layout = table, layout
        self.sources = model_channels(norm)
        # for cv2.LUT (NHWC): column c maps canvas channel c, i.e. the table of the model channel reading it
        by_canvas_channel = table[:, [self.sources.index(c) for c in range(3)]]
        self.canvas_lut = np.ascontiguousarray(by_canvas_channel).reshape(1, 256, 3)

    def __call__(self, image_bgr: np.ndarray, slot: np.ndarray) -> None:
        height, width = image_bgr.shape[:2]
        if self.layout == "NHWC":
            region = slot[:height, :width]
            cv2.LUT(image_bgr, self.canvas_lut, dst=region)  # canvas channel c through the table of its model channel
            if self.sources != (0, 1, 2):  # then into the model's channel order
                region[...] = region[:, :, self.sources].copy()
            return
        for plane, source in enumerate(self.sources):
            np.take(self.table[:, plane], image_bgr[:, :, source], out=slot[plane, :height, :width])


class _OpenCVQuantizedMap:
    """Normalize and quantize an NHWC int8/uint8 input in one ``cv2.addWeighted``:
    ``saturate(round(a * pixel - a * mean + zero_point))`` with ``a = 1 / (std * scale)``, the mean as a constant
    uint8 image. Only for BGR models with one std for every channel and integer means (the bundled int8 TFLite)."""

    _DEPTHS = {"int8": cv2.CV_8S, "uint8": cv2.CV_8U}

    def __init__(self, spec: InputSpec, norm: Normalization):
        self.alpha = 1.0 / (float(norm.std[0]) * spec.scale)
        self.zero_point = float(spec.zero_point)
        self.depth = self._DEPTHS[spec.dtype]
        self.mean_pixel = np.array(norm.mean, np.uint8)
        self._mean_image = np.empty((0, 0, 3), np.uint8)  # grown on demand; replaced whole, never resized in place

    @classmethod
    def if_affine(cls, spec: InputSpec, norm: Normalization) -> _OpenCVQuantizedMap | None:
        applicable = (
            spec.layout == "NHWC"
            and spec.dtype in cls._DEPTHS
            and norm.channel_order == "BGR"
            and len(set(norm.std)) == 1
            and all(float(m).is_integer() and 0 <= m <= 255 for m in norm.mean)
        )
        return cls(spec, norm) if applicable else None

    def __call__(self, image_bgr: np.ndarray, slot: np.ndarray) -> None:
        height, width = image_bgr.shape[:2]
        means = self._mean_image
        if means.shape[0] < height or means.shape[1] < width:
            grown = (max(height, means.shape[0]), max(width, means.shape[1]), 3)
            means = self._mean_image = np.ascontiguousarray(np.broadcast_to(self.mean_pixel, grown))
        cv2.addWeighted(
            image_bgr,
            self.alpha,
            means[:height, :width],
            -self.alpha,
            self.zero_point,
            dst=slot[:height, :width],
            dtype=self.depth,
        )


def _as_rows(pixels: np.ndarray) -> np.ndarray:
    """An (H, W, C) array whose rows are contiguous (a canvas region) seen as (H, W*C): a view, never a copy."""
    rows = pixels.view()
    rows.shape = (pixels.shape[0], pixels.shape[1] * pixels.shape[2])  # raises rather than copying
    return rows
