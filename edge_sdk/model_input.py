"""The fast path into the model: a letterboxed image written straight into the tensor a backend's ``run`` takes,
in reused buffers.

A backend says what its input is (:class:`InputSpec`): normalized float32 (NCHW or NHWC), the normalized values
already quantized to the file's integer type (TFLite int8), or the uint8 BGR canvas itself when the runtime does the
normalization inside the compiled model (OpenVINO's PrePostProcessor). An :class:`InputWriter` does the one pass that
spec needs — resize into place, then the spec's pixel map (:mod:`edge_sdk.pixel_maps`: normalize, or normalize and
quantize in one step, bit-identical to normalizing in float and quantizing after), or nothing — and pads with the
value that the normalized mean maps to.

Buffers are reused per thread (:class:`InputBuffers`), keyed by shape and bounded, so a steady stream allocates
nothing per frame and a stream of changing sizes holds at most a few canvases.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from .input_spec import FLOAT_NCHW, KINDS, LAYOUTS, PIXELS_NHWC, InputSpec
from .pixel_maps import model_channels, pixel_map_for
from .preprocess import Letterbox, Normalization, resize_for_letterbox, scratch_size

__all__ = [
    "FLOAT_NCHW",
    "KINDS",
    "LAYOUTS",
    "PIXELS_NHWC",
    "InputSpec",
    "InputWriter",
    "integer_mean",
    "pad_value",
    "quantize_values",
]

# Canvas shapes kept per thread: a stream uses one; batches and varying original-resolution frames a few more.
BUFFERS_KEPT = 4
# The supersampled shrink's intermediate image is kept per thread up to this size (1024x768 → 640x480 needs 3.7 MB);
# a larger one (a huge photo) is allocated for its call only, so one outsized image does not pin its memory.
SCRATCH_KEPT_BYTES = 16 * 1024 * 1024


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
        sources = model_channels(norm)
        return np.array([norm.mean[sources.index(c)] for c in range(3)], np.uint8)
    if spec.kind == "quantized":
        return np.array([_quantize(np.float32(0.0), spec)] * 3, dtype=spec.dtype)
    return np.zeros(3, np.float32)


class InputWriter:
    """Writes letterboxed BGR images into the input tensor of one :class:`InputSpec` (one model file)."""

    def __init__(self, spec: InputSpec, norm: Normalization):
        self.spec, self.norm = spec, norm
        self.pad_value = pad_value(spec, norm)
        # how float and quantized inputs are written (see edge_sdk.pixel_maps); "opencv" or "reference"
        self.pixel_map_name = "none"
        if spec.kind != "pixels":
            table = self._quantization_tables() if spec.kind == "quantized" else None
            self._map_pixels, self.pixel_map_name = pixel_map_for(spec, norm, table)
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
        self._map_pixels(image_bgr, slot)

    def prepare(self, images: list[tuple[np.ndarray, Letterbox]], height: int, width: int) -> np.ndarray:
        """The input tensor of one model call: ``images`` (BGR, letterbox) into this thread's reused buffer of
        shape (len(images), ...) at canvas ``height`` x ``width``. Valid until this thread's next call."""
        return self._buffers.tensor_for(images, height, width)


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
