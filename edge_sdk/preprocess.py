"""Letterbox and normalization: image (HxWx3 uint8 BGR) → network input tensor (1x3xHxW float32).

The letterbox keeps the aspect ratio, puts the resized image in the top-left corner and pads right/bottom with the
normalization mean (so padding is exactly 0 after normalization, as in RetinaFace training). Per-axis scales are
recorded from the integer output size, which makes :meth:`Letterbox.to_original` the exact inverse of the resize.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """Geometry of one letterbox: original size, resized size, canvas size."""

    src_width: int
    src_height: int
    resized_width: int
    resized_height: int
    canvas_width: int
    canvas_height: int

    @property
    def scale_x(self) -> float:
        return self.resized_width / self.src_width

    @property
    def scale_y(self) -> float:
        return self.resized_height / self.src_height

    @classmethod
    def fit(cls, src_width: int, src_height: int, canvas_width: int, canvas_height: int) -> Letterbox:
        """Largest aspect-preserving resize that fits the canvas."""
        scale = min(canvas_width / src_width, canvas_height / src_height)
        resized_w = min(canvas_width, max(1, round(src_width * scale)))
        resized_h = min(canvas_height, max(1, round(src_height * scale)))
        return cls(src_width, src_height, resized_w, resized_h, canvas_width, canvas_height)

    @classmethod
    def pad_to_multiple(cls, src_width: int, src_height: int, multiple: int) -> Letterbox:
        """No resize; pad right/bottom to a multiple of ``multiple`` (dynamic-shape models)."""
        canvas_w = math.ceil(src_width / multiple) * multiple
        canvas_h = math.ceil(src_height / multiple) * multiple
        return cls(src_width, src_height, src_width, src_height, canvas_w, canvas_h)

    @classmethod
    def for_input_size(
        cls, src_width: int, src_height: int, input_size: tuple[int, int] | None, multiple: int
    ) -> Letterbox:
        """The runtime's rule: fit into ``input_size`` (width, height), or None → own size padded to ``multiple``."""
        if input_size is None:
            return cls.pad_to_multiple(src_width, src_height, multiple)
        return cls.fit(src_width, src_height, *input_size)

    def to_canvas(self, points: np.ndarray) -> np.ndarray:
        """Original-pixel coordinates (..., 2) → canvas coordinates."""
        return points * np.array([self.scale_x, self.scale_y], dtype=np.float32)

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Canvas coordinates (..., 2) → original-pixel coordinates (exact inverse of :meth:`to_canvas`)."""
        return points / np.array([self.scale_x, self.scale_y], dtype=np.float32)

    def boxes_to_original(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy boxes (N,4) in canvas pixels → original pixels."""
        return self.to_original(boxes.reshape(-1, 2, 2)).reshape(-1, 4)


@dataclass(frozen=True)
class Normalization:
    """How the model wants its input: channel order and per-channel mean/std in that order (0-255 scale)."""

    channel_order: str = "BGR"
    mean: tuple[float, float, float] = (104.0, 117.0, 127.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if self.channel_order not in ("BGR", "RGB"):
            raise ValueError(f"channel_order must be 'BGR' or 'RGB', got {self.channel_order!r}")


HALVE, LINEAR = "halve", "linear"


@functools.lru_cache(maxsize=64)  # a pure function of the (frozen) letterbox: a stream asks for the same one each frame
def resize_steps(box: Letterbox) -> tuple[tuple[str, int, int], ...]:
    """The runtime's one resize rule, as its steps ``(kind, width, height)``, each from the previous step's output:

    - enlarging: one INTER_LINEAR;
    - shrinking by s (the larger of the two axes' factors): INTER_LINEAR to k times the resized size, k the largest
      power of two ≤ s and at least 2 (so that step shrinks by less than 2x, where every source pixel still weighs
      in, or enlarges when s < 2; it is skipped when the image is that size already, as 1280x720 → 640x360), then
      log2(k) exact INTER_AREA halvings.

    Why: shrinking needs area averaging (no aliasing of small faces: INTER_AREA is +0.35 AP Easy over INTER_LINEAR on
    the 626 val images at 640), but OpenCV's INTER_AREA is vectorized only for an exact halving; for any other factor
    it is a scalar loop (1024x768 → 640x480, one thread: 4.1 ms against about 1.8 ms in these steps). Each output
    pixel averages bilinear samples over the area it covers, which keeps INTER_AREA's accuracy (docs/BENCHMARKS.md,
    "Letterbox resize"). Halving before the linear step would be cheaper for s ≥ 4 but blurs more than INTER_AREA
    (the bilinear kernel then spans two source pixels). The C++ consumer (examples/cpp) takes the same steps."""
    width, height = box.src_width, box.src_height
    target_w, target_h = box.resized_width, box.resized_height
    if (width, height) == (target_w, target_h):
        return ()
    if box.scale_x >= 1 and box.scale_y >= 1:
        return ((LINEAR, target_w, target_h),)
    factor, k = max(width / target_w, height / target_h), 2
    while 2 * k <= factor:
        k *= 2
    steps = [] if (width, height) == (target_w * k, target_h * k) else [(LINEAR, target_w * k, target_h * k)]
    while k > 1:
        k //= 2
        steps.append((HALVE, target_w * k, target_h * k))
    return tuple(steps)


def scratch_size(box: Letterbox, channels: int = 3) -> int:
    """Bytes of scratch :func:`resize_for_letterbox` uses for ``box``: every step's output but the last (0: none)."""
    return sum(w * h * channels for _, w, h in resize_steps(box)[:-1])


def resize_for_letterbox(
    image_bgr: np.ndarray, box: Letterbox, dst: np.ndarray | None = None, scratch: np.ndarray | None = None
) -> np.ndarray:
    """``image_bgr`` resized to ``box``'s resized size by :func:`resize_steps`, into ``dst`` when given. ``scratch``:
    a flat uint8 buffer of at least :func:`scratch_size` bytes for the intermediate images (a reused one keeps the
    hot path free of allocations). Without any step (the image is the resized size already) the image itself."""
    steps = resize_steps(box)
    channels = image_bgr.shape[2]
    if scratch is None and len(steps) > 1:
        scratch = np.empty(scratch_size(box, channels), np.uint8)
    current, offset = image_bgr, 0
    for index, (kind, width, height) in enumerate(steps):
        if index == len(steps) - 1:
            target = dst
        else:
            count = width * height * channels
            target = scratch[offset : offset + count].reshape(height, width, channels)
            offset += count
        interpolation = cv2.INTER_AREA if kind == HALVE else cv2.INTER_LINEAR
        current = cv2.resize(current, (width, height), dst=target, interpolation=interpolation)
    return current


def normalize_into_planes(resized_bgr: np.ndarray, norm: Normalization, planes: np.ndarray) -> None:
    """``(pixel - mean) / std`` of an already resized BGR image into the top-left corner of (3, H, W) float32
    ``planes``, channel by channel in the model's order: one pass per plane, no HxWx3 float temporary and no
    transpose copy (~0.6 ms at 640x640 instead of ~14 ms for the naive astype/subtract/transpose)."""
    height, width = resized_bgr.shape[:2]
    source_channels = (2, 1, 0) if norm.channel_order == "RGB" else (0, 1, 2)
    for plane, (source, mean, std) in enumerate(zip(source_channels, norm.mean, norm.std)):
        target = planes[plane, :height, :width]
        np.subtract(resized_bgr[:, :, source], np.float32(mean), out=target, dtype=np.float32)
        if std != 1.0:
            target *= np.float32(1.0 / std)


def make_input(image_bgr: np.ndarray, box: Letterbox, norm: Normalization, out: np.ndarray | None = None) -> np.ndarray:
    """Resize + pad + normalize into a new (1, 3, H, W) float32 tensor, or into ``out`` (a zero-filled (3, H, W)
    float32 view, e.g. one image's slot of a batch tensor), which is then returned. (The detector itself writes
    into reused buffers, in whatever input its backend takes: :mod:`edge_sdk.model_input`.)"""
    if (box.resized_width, box.resized_height) != (box.src_width, box.src_height):
        image_bgr = resize_for_letterbox(image_bgr, box)
    if out is None:
        tensor = np.zeros((1, 3, box.canvas_height, box.canvas_width), dtype=np.float32)
        planes = tensor[0]
    else:
        if out.shape != (3, box.canvas_height, box.canvas_width) or out.dtype != np.float32:
            raise ValueError(
                f"out must be float32 (3, {box.canvas_height}, {box.canvas_width}), got {out.dtype} {out.shape}"
            )
        tensor = planes = out
    normalize_into_planes(image_bgr, norm, planes)
    return tensor
