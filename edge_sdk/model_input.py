"""The fast path into the model: a letterboxed image written straight into the tensor a backend's ``run`` takes,
in reused buffers.

A backend says what its input is (:class:`InputSpec`): normalized float32 (NCHW or NHWC), the normalized values
already quantized to the file's integer type (TFLite int8), or the uint8 BGR canvas itself when the runtime does the
normalization inside the compiled model (OpenVINO's PrePostProcessor). An :class:`InputWriter` does the one pass that
spec needs — resize into place, then a per-plane subtract, or a 256-entry lookup table per channel that maps a pixel
straight to its quantized value (the composition of normalization and quantization, so the result is bit-identical
to normalizing in float and quantizing after), or nothing — and pads with the value that the normalized mean maps to.

Buffers are reused per thread (:class:`InputBuffers`), keyed by shape and bounded, so a steady stream allocates
nothing per frame and a stream of changing sizes holds at most a few canvases.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from .preprocess import Letterbox, Normalization, normalize_into_planes, resize_for_letterbox, scratch_size

KINDS = ("float", "quantized", "pixels")
LAYOUTS = ("NCHW", "NHWC")
# Canvas shapes kept per thread: a stream uses one; batches and varying original-resolution frames a few more.
BUFFERS_KEPT = 4
# The supersampled shrink's intermediate image is kept per thread up to this size (1024x768 → 640x480 needs 3.7 MB);
# a larger one (a huge photo) is allocated for its call only, so one outsized image does not pin its memory.
SCRATCH_KEPT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class InputSpec:
    """What a backend's ``run`` takes for one batch.

    ``kind``: "float" (normalized float32), "quantized" (normalized, then ``real = scale * (q - zero_point)`` in
    ``dtype``), "pixels" (the uint8 BGR canvas; the model normalizes). ``layout``: "NCHW" or "NHWC".
    """

    kind: str = "float"
    layout: str = "NCHW"
    scale: float = 1.0
    zero_point: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.layout not in LAYOUTS:
            raise ValueError(f"unknown input spec {self.kind!r}/{self.layout!r}")
        if self.kind == "pixels" and (self.layout != "NHWC" or self.dtype != "uint8"):
            raise ValueError("a pixels input is the uint8 NHWC canvas")

    def shape(self, batch: int, height: int, width: int) -> tuple[int, int, int, int]:
        return (batch, 3, height, width) if self.layout == "NCHW" else (batch, height, width, 3)


FLOAT_NCHW = InputSpec()
PIXELS_NHWC = InputSpec("pixels", "NHWC", dtype="uint8")


def integer_mean(norm: Normalization) -> bool:
    """Whether padding the uint8 canvas with the mean makes exactly 0 after normalization (a ``pixels`` input needs
    this to match the float path bit for bit)."""
    return all(float(m).is_integer() and 0 <= m <= 255 for m in norm.mean)


def pad_value(spec: InputSpec, norm: Normalization) -> np.ndarray:
    """Per channel (in the tensor's channel order), the value that padding takes: what the normalized mean is in
    ``spec``'s terms (0.0; the quantized 0; the mean pixel, BGR, for a pixels input)."""
    if spec.kind == "pixels":
        if not integer_mean(norm):
            raise ValueError(f"a pixels input needs an integer mean in 0..255, got {norm.mean}")
        sources = _model_channels(norm)
        return np.array([norm.mean[sources.index(c)] for c in range(3)], np.uint8)
    if spec.kind == "quantized":
        return np.array([_quantize(np.float32(0.0), spec)] * 3, dtype=spec.dtype)
    return np.zeros(3, np.float32)


def _model_channels(norm: Normalization) -> tuple[int, int, int]:
    """For each of the model's channels, the BGR canvas channel it reads."""
    return (2, 1, 0) if norm.channel_order == "RGB" else (0, 1, 2)


class InputWriter:
    """Writes letterboxed BGR images into the input tensor of one :class:`InputSpec` (one model file)."""

    def __init__(self, spec: InputSpec, norm: Normalization):
        self.spec, self.norm = spec, norm
        self._sources = _model_channels(norm)
        self.pad_value = pad_value(spec, norm)
        if spec.kind == "quantized":
            self._tables = self._quantization_tables()
            # for cv2.LUT (NHWC): column c maps canvas channel c, i.e. the table of the model channel reading it
            by_canvas_channel = self._tables[:, [self._sources.index(c) for c in range(3)]]
            self._canvas_lut = np.ascontiguousarray(by_canvas_channel).reshape(1, 256, 3)
        elif spec.kind == "float":
            self._mean = np.array(norm.mean, np.float32)
            self._inv_std = None if all(s == 1.0 for s in norm.std) else (1.0 / np.array(norm.std, np.float32))
            self._float_row_cache = (self._mean, self._inv_std)  # tiled per pixel, grown on demand: one attribute, so
            # a thread never sees one row grown and the other not
        self._buffers = InputBuffers(self)

    def _quantization_tables(self) -> np.ndarray:
        """(256, 3): for each model channel, every uint8 pixel value → its quantized normalized value, computed with
        the same float32 steps as normalizing then quantizing one pixel (so the lookup is bit-identical)."""
        pixels = np.arange(256, dtype=np.uint8)
        columns = []
        for mean, std in zip(self.norm.mean, self.norm.std):
            values = np.subtract(pixels, np.float32(mean), dtype=np.float32)
            if std != 1.0:
                values *= np.float32(1.0 / std)
            columns.append(_quantize(values, self.spec))
        return np.stack(columns, axis=1)

    def new_tensor(self, batch: int, height: int, width: int) -> np.ndarray:
        tensor = np.empty(self.spec.shape(batch, height, width), dtype=self.spec.dtype)
        for slot in range(batch):
            self.fill(tensor[slot])
        return tensor

    def fill(self, slot: np.ndarray) -> None:
        """Set one image's slot to the padding value (the normalized mean)."""
        height, width = (slot.shape[0], slot.shape[1]) if self.spec.layout == "NHWC" else slot.shape[1:]
        self._fill_box(slot, 0, height, 0, width)

    def clear(self, slot: np.ndarray, written: tuple[int, int], next_size: tuple[int, int]) -> None:
        """Re-pad what an image of resized size ``written`` (width, height) covered and one of ``next_size`` will not:
        the rest of the slot already holds the padding value."""
        (old_w, old_h), (new_w, new_h) = written, next_size
        self._fill_box(slot, new_h, old_h, 0, old_w)
        self._fill_box(slot, 0, min(new_h, old_h), new_w, old_w)

    def _fill_box(self, slot: np.ndarray, top: int, bottom: int, left: int, right: int) -> None:
        if bottom <= top or right <= left:
            return
        if self.spec.layout == "NHWC":
            region = slot[top:bottom, left:right]
            region[0] = self.pad_value  # one row pixel by pixel, then whole rows: broadcasting a 3-vector over
            region[1:] = region[0]  # every pixel of a channels-last canvas is ~80x slower (1.8 ms at 640x640)
        else:
            for plane, value in enumerate(self.pad_value):
                slot[plane, top:bottom, left:right] = value

    def write(self, image_bgr: np.ndarray, box: Letterbox, slot: np.ndarray) -> None:
        """Letterbox ``image_bgr`` into ``slot`` (one image of the tensor), whose padding must already hold the pad
        value outside ``box``'s resized area (:meth:`fill`, or an earlier write with the same geometry)."""
        height, width = box.resized_height, box.resized_width
        resize = (width, height) != (box.src_width, box.src_height)
        if self.spec.kind == "pixels":  # resize straight into the canvas; the model does the rest
            region = slot[:height, :width]
            if resize:
                resize_for_letterbox(image_bgr, box, dst=region, scratch=self._buffers.scratch(box))
            else:
                region[...] = image_bgr
            return
        if resize:
            image_bgr = self._buffers.resized(image_bgr, box)
        if self.spec.kind == "quantized":
            self._write_quantized(image_bgr, box, slot)
        else:
            self._write_float(image_bgr, box, slot)

    def _write_float(self, image_bgr: np.ndarray, box: Letterbox, slot: np.ndarray) -> None:
        if self.spec.layout == "NCHW":
            normalize_into_planes(image_bgr, self.norm, slot)
            return
        height, width = box.resized_height, box.resized_width
        source = image_bgr if self._sources == (0, 1, 2) else image_bgr[:, :, self._sources]
        # whole rows against the per-channel values tiled along a row: broadcasting a 3-vector over each pixel of a
        # channels-last array is ~6x slower (1.6 ms against 0.3 ms at 640x512)
        region = _as_rows(slot[:height, :width])
        mean, inv_std = self._float_rows(width)
        np.subtract(_as_rows(np.ascontiguousarray(source)), mean, out=region, dtype=np.float32)
        if inv_std is not None:
            region *= inv_std

    def _float_rows(self, width: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Mean and 1/std tiled over ``width`` pixels (views of rows kept at the widest width seen)."""
        mean_row, inv_std_row = self._float_row_cache
        if mean_row.size < 3 * width:
            mean_row = np.tile(self._mean, width)
            inv_std_row = None if self._inv_std is None else np.tile(self._inv_std, width)
            self._float_row_cache = (mean_row, inv_std_row)
        return mean_row[: 3 * width], None if inv_std_row is None else inv_std_row[: 3 * width]

    def _write_quantized(self, image_bgr: np.ndarray, box: Letterbox, slot: np.ndarray) -> None:
        height, width = box.resized_height, box.resized_width
        if self.spec.layout == "NHWC":
            region = slot[:height, :width]
            cv2.LUT(image_bgr, self._canvas_lut, dst=region)  # canvas channel c through the table of its model channel
            if self._sources != (0, 1, 2):  # then into the model's channel order
                region[...] = region[:, :, self._sources].copy()
            return
        for plane, source in enumerate(self._sources):
            np.take(self._tables[:, plane], image_bgr[:, :, source], out=slot[plane, :height, :width])

    def prepare(self, images: list[tuple[np.ndarray, Letterbox]], height: int, width: int) -> np.ndarray:
        """The input tensor of one model call: ``images`` (BGR, letterbox) into this thread's reused buffer of
        shape (len(images), ...) at canvas ``height`` x ``width``. Valid until this thread's next call."""
        return self._buffers.tensor_for(images, height, width)


def _as_rows(pixels: np.ndarray) -> np.ndarray:
    """An (H, W, C) array whose rows are contiguous (a canvas region) seen as (H, W*C): a view, never a copy."""
    rows = pixels.view()
    rows.shape = (pixels.shape[0], pixels.shape[1] * pixels.shape[2])  # raises rather than copying
    return rows


def quantize_values(
    values: np.ndarray | np.float32, scale: float, zero_point: int, dtype: np.dtype | str
) -> np.ndarray:
    """Float → integer ``dtype``: ``rint(x / scale) + zero_point`` (round half to even), saturated. The one
    definition, used by the backends for float inputs and by the lookup tables here."""
    info = np.iinfo(np.dtype(dtype))
    q = np.rint(np.asarray(values, np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def _quantize(values: np.ndarray | np.float32, spec: InputSpec) -> np.ndarray:
    return quantize_values(values, spec.scale, spec.zero_point, spec.dtype)


class InputBuffers:
    """Per-thread reused tensors (keyed by shape, least recently used dropped beyond :data:`BUFFERS_KEPT`) and the
    geometry last written into each slot, so padding is re-filled only when the letterbox changes."""

    def __init__(self, writer: InputWriter):
        self._writer = writer
        self._local = threading.local()

    def _state(self) -> tuple[OrderedDict, OrderedDict]:
        local = self._local
        if not hasattr(local, "tensors"):
            local.tensors, local.resized = OrderedDict(), OrderedDict()
        return local.tensors, local.resized

    def tensor_for(self, images: list[tuple[np.ndarray, Letterbox]], height: int, width: int) -> np.ndarray:
        tensors, _ = self._state()
        key = (len(images), height, width)
        entry = tensors.get(key)
        if entry is None:
            entry = [self._writer.new_tensor(*key), [None] * len(images)]
            tensors[key] = entry
            _trim(tensors)
        tensors.move_to_end(key)
        tensor, geometry = entry
        for slot, (image, box) in enumerate(images):
            size = (box.resized_width, box.resized_height)
            if geometry[slot] not in (None, size):
                self._writer.clear(tensor[slot], geometry[slot], size)
            self._writer.write(image, box, tensor[slot])
            geometry[slot] = size
        return tensor

    def resized(self, image_bgr: np.ndarray, box: Letterbox) -> np.ndarray:
        """``image_bgr`` resized to ``box``'s resized size, in a reused buffer (for the float and quantized kinds,
        whose second pass reads it)."""
        _, resized = self._state()
        key = (box.resized_height, box.resized_width, image_bgr.shape[2])
        buffer = resized.get(key)
        if buffer is None:
            buffer = resized[key] = np.empty(key, np.uint8)
            _trim(resized)
        resized.move_to_end(key)
        return resize_for_letterbox(image_bgr, box, dst=buffer, scratch=self.scratch(box, image_bgr.shape[2]))

    def scratch(self, box: Letterbox, channels: int = 3) -> np.ndarray | None:
        """This thread's flat buffer for the intermediate images of a supersampled shrink (None: none needed, or
        more than :data:`SCRATCH_KEPT_BYTES`: then the resize allocates its own for that call). Grown to the
        largest size seen."""
        size = scratch_size(box, channels)
        if size == 0 or size > SCRATCH_KEPT_BYTES:
            return None
        local = self._local
        flat = getattr(local, "scratch", None)
        if flat is None or flat.size < size:
            flat = local.scratch = np.empty(size, np.uint8)
        return flat


def _trim(cache: OrderedDict) -> None:
    while len(cache) > BUFFERS_KEPT:
        cache.popitem(last=False)
